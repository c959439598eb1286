// ONNX Runtime outputs of the shipped networks against the PyTorch outputs saved at export
// (models/*/fixture.json, written by models/unet.py and models/classifier.py from the same fixed inputs).
import { createCpuBackend } from '@tessera/core';
import { loadDigitClassifier, loadDigitsUNet } from '@tessera/models';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, mulberry, onnxBackend, readModelJson, relErr } from './helpers.ts';

const B = onnxBackend();
const cpu = createCpuBackend();
afterAll(() => B.dispose());
const seed = freshSeed();
const u = mulberry(seed);

interface UNetFixture {
  sample: number[];
  timestep: number[];
  class_labels: number[];
  shape: [number, number, number, number];
  out_sample: number[];
}
interface ClassifierFixture {
  pixel_values: number[];
  shape: [number, number, number, number];
  labels: number[];
  logits: number[];
  features: number[];
}

describe('digit U-Net', () => {
  const fx = readModelJson<UNetFixture>('unet-digits16/fixture.json');

  it('ONNX out_sample equals the PyTorch output (1e-4 relative), per-row timesteps and the null class', async () => {
    const D = await loadDigitsUNet({ backend: B });
    const n = fx.shape[0];
    const { out_sample } = await D.model.run({
      sample: B.tensor(Float32Array.from(fx.sample), fx.shape),
      timestep: B.tensor(Float32Array.from(fx.timestep), [n]),
      class_labels: B.tensor(Int32Array.from(fx.class_labels), [n], 'int32'),
    });
    const got = await out_sample!.data();
    expect(relErr(got, fx.out_sample)).toBeLessThan(1e-4);
    out_sample!.dispose();
    // the sum over the batch's rows: a batch of one row at a time gives the same row
    const r = 1 + Math.floor(u() * (n - 1));
    const one = await D.model.run({
      sample: B.tensor(Float32Array.from(fx.sample.slice(r * 256, (r + 1) * 256)), [1, 1, 16, 16]),
      timestep: B.tensor(Float32Array.of(fx.timestep[r]!), [1]),
      class_labels: B.tensor(Int32Array.of(fx.class_labels[r]!), [1], 'int32'),
    });
    const row = await one.out_sample!.data();
    expect(relErr(row, fx.out_sample.slice(r * 256, (r + 1) * 256)), `row ${r}, seed ${seed}`).toBeLessThan(
      1e-4,
    );
    one.out_sample!.dispose();
    await D.dispose();
  });

  it('the denoiser is x − σ·ε(x/√(σ²+1), t(σ), y), with CFG as ε_u + s(ε_c − ε_u), on ONNX and CPU tensors', async () => {
    const D = await loadDigitsUNet({ backend: B });
    const n = 3;
    const x = Float32Array.from({ length: n * 256 }, () => 4 * (u() - 0.5));
    // σ of training steps t (so the timestep is t itself): sigma_t = √((1 − ᾱ_t)/ᾱ_t), float64 from the
    // linear betas of scheduler_config.json
    const ts = [Math.floor(u() * 1000), Math.floor(u() * 1000), Math.floor(u() * 1000)];
    let ac = 1;
    const acs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      ac *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / 999);
      acs.push(ac);
    }
    const sig = ts.map((t) => Math.sqrt((1 - acs[t]!) / acs[t]!));
    const labels = [Math.floor(u() * 10), Math.floor(u() * 10), 10];
    const scale = 1.5 + u();
    // raw ε for the conditional and unconditional rows
    const xin = Float32Array.from(x, (v, i) => v / Math.sqrt(sig[Math.floor(i / 256)]! ** 2 + 1));
    const raw = async (y: number[]) => {
      const o = await D.model.run({
        sample: B.tensor(xin, [n, 1, 16, 16]),
        timestep: B.tensor(Float32Array.from(ts), [n]),
        class_labels: B.tensor(Int32Array.from(y), [n], 'int32'),
      });
      const v = await o.out_sample!.data();
      o.out_sample!.dispose();
      return v;
    };
    const ec = await raw(labels);
    const eu = await raw([10, 10, 10]);
    const want = Array.from(x, (v, i) => {
      const s = sig[Math.floor(i / 256)]!;
      return v - s * (eu[i]! + scale * (ec[i]! - eu[i]!));
    });
    const wantPlain = Array.from(x, (v, i) => v - sig[Math.floor(i / 256)]! * ec[i]!);
    const before = B.memory().tensors;
    for (const backend of [B, cpu]) {
      const xt = backend.tensor(x, [n, 1, 16, 16]);
      const d1 = await D(xt, sig, { classLabels: labels, guidanceScale: scale });
      const d2 = await D(xt, sig, labels);
      expect(d1.backend).toBe(backend);
      // tolerance: the timestep differs from t by float32 rounding of σ (≈1e-7 relative in log σ)
      expect(relErr(await d1.data(), want), `${backend.name}, seed ${seed}`).toBeLessThan(1e-4);
      expect(relErr(await d2.data(), wantPlain), `${backend.name}, seed ${seed}`).toBeLessThan(1e-4);
      d1.dispose();
      d2.dispose();
      xt.dispose();
    }
    expect(B.memory().tensors).toBe(before);
    await D.dispose();
  });

  it('rejects bad input with TesseraError', async () => {
    const D = await loadDigitsUNet({ backend: B });
    const x = B.tensor(new Float32Array(2 * 256).fill(0.5), [2, 1, 16, 16]);
    const bad = B.tensor(new Float32Array(2 * 64).fill(0.5), [2, 1, 8, 8]);
    expect(() => D(bad, 1, [1, 2])).toThrow(/\[N, 1, 16, 16\], got \[2, 1, 8, 8\]/);
    expect(() => D(x, [1, 2, 3], [1, 2])).toThrow(/3 sigmas for a batch of 2/);
    expect(() => D(x, 1, [1, 2, 3])).toThrow(/3 class labels for a batch of 2/);
    expect(() => D(x, 1, [1, 11])).toThrow(/0–10.*got 11 at row 1/);
    expect(() => D(x, 1, undefined)).toThrow(/cond must be the class labels/);
    expect(() => D(x, -1, [1, 2])).toThrow(/sigma must be finite/);
    x.dispose();
    bad.dispose();
    await D.dispose();
  });
});

describe('digit classifier', () => {
  const fx = readModelJson<ClassifierFixture>('classifier-digits16/fixture.json');

  it('ONNX logits and features equal the PyTorch outputs (1e-4 relative), from ONNX and CPU tensors', async () => {
    const C = await loadDigitClassifier({ backend: B });
    for (const backend of [B, cpu]) {
      const x = backend.tensor(Float32Array.from(fx.pixel_values), fx.shape);
      const { logits, features } = await C.run(x);
      expect(logits.backend).toBe(backend);
      expect(relErr(await logits.data(), fx.logits)).toBeLessThan(1e-4);
      expect(relErr(await features.data(), fx.features)).toBeLessThan(1e-4);
      const f = await C.features(x);
      expect(f.shape).toEqual([fx.shape[0], 128]);
      // argmax of the PyTorch logits of the three held-out digits is their label
      const pred = await C.predict(x);
      expect(Array.from(pred.subarray(0, 3))).toEqual(fx.labels);
      for (const t of [logits, features, f, x]) t.dispose();
    }
    await C.dispose();
  });

  it('rejects a wrong shape or dtype', async () => {
    const C = await loadDigitClassifier({ backend: B });
    const x = B.tensor(new Float32Array(2 * 256).fill(0.1), [2, 256]);
    await expect(C.predict(x)).rejects.toThrow(/\[N, 1, 16, 16\] with N ≥ 1, got \[2, 256\]/);
    const xi = B.tensor(new Int32Array(256), [1, 1, 16, 16], 'int32');
    await expect(C.features(xi)).rejects.toThrow(/float32, got int32/);
    x.dispose();
    xi.dispose();
    await C.dispose();
  });
});
