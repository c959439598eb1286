// sin and cos on the ONNX backend over a wide range, against float64 Math.sin/Math.cos of the float32
// inputs. On the WebGPU provider the backend builds them from exactly rounded ops (Cody–Waite reduction
// by π/2 plus polynomials) because native WebGPU Sin/Cos need only be 2⁻¹¹-accurate; on the CPU
// provider they are ONNX Runtime's own kernels.
import { describe, expect, it } from 'vitest';
import { rng } from './ref64.ts';
import { type Target, tryOnnxBackend } from './targets.ts';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);

describe.each<Target>(['node-cpu', 'node-webgpu'])(`sin/cos on %s (seed ${seed})`, (target) => {
  it('|x| ≤ 4000 (timestep-embedding range) to 1e-6 absolute; ±0, ±∞ and NaN as Math.sin/cos', async (ctx) => {
    const B = await tryOnnxBackend(target);
    if (!B) return ctx.skip();
    const u = rng(seed);
    const xs = Float32Array.from({ length: 4096 }, (_, i) =>
      i < 2048 ? (u() * 2 - 1) * 4000 : (u() * 2 - 1) * 8,
    );
    const x = B.tensor(xs, [4096]);
    for (const [op, f] of [
      ['sin', Math.sin],
      ['cos', Math.cos],
    ] as const) {
      const got = await B.unary(op, x).data();
      let worst = 0;
      let at = 0;
      for (let i = 0; i < xs.length; i++) {
        const e = Math.abs(got[i]! - f(xs[i]!));
        if (e > worst) [worst, at] = [e, i];
      }
      // float32 output rounding alone is up to 3e-8; the reduction of |x| ≤ 4000 adds ~1e-7
      expect(worst, `${op} on ${target} at x = ${xs[at]}, seed ${seed}`).toBeLessThan(1e-6);
      const special = [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
      const s = await B.unary(op, B.tensor(special, [5])).data();
      expect(Array.from(s).map((v) => (Object.is(v, -0) ? 0 : v))).toEqual(
        special.map((v) => (Object.is(f(v), -0) ? 0 : f(v))),
      );
    }
  });
});
