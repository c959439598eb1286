import {
  moveToBackend,
  moveToOnnx,
  type OnnxBackend,
  type OnnxModel,
  onnxModel,
  sigmaToTimestep,
} from '@tessera/backend-onnx';
import { isTensor, type Tensor, TesseraError, tidy } from '@tessera/core';
import { alphasCumprod, betas, sigmasFromAlphasCumprod } from '@tessera/schedules';
import type { ModelCard } from './card-types.js';
import { UNET_DIGITS16_CARD, UNET_DIGITS16_SCHEDULER_CONFIG } from './cards.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

/** Conditioning of a {@link ClassDenoiser} call. */
export interface ClassCond {
  /** One class per batch row (or one for all rows): 0–9, or the card's `null_class` for "any digit". */
  classLabels: ArrayLike<number>;
  /** Classifier-free guidance scale (1: none; the default is the loader's `guidanceScale`). */
  guidanceScale?: number;
}

/**
 * A k-diffusion denoiser D(x, σ, cond) → x₀ of a class-conditional ε-prediction network. σ is a number
 * or one value per batch row; `cond` is a {@link ClassCond} or just the class labels. The result is a
 * fresh tensor on `x`'s backend that the caller owns.
 */
export interface ClassDenoiser {
  (
    x: Tensor,
    sigma: number | ArrayLike<number>,
    cond?: ClassCond | ArrayLike<number> | unknown,
  ): Tensor | Promise<Tensor>;
  /** The loaded ONNX model. */
  readonly model: OnnxModel;
  /** The model's card. */
  readonly card: ModelCard;
  /** σ of each of the model's training steps (index = DDPM timestep). */
  readonly trainSigmas: Float64Array;
  /** The class label meaning "no class" (used for the unconditional half of CFG). */
  readonly nullClass: number;
  /** Marks the denoiser as taking one σ per row (`@tessera/diffusion`'s `RowDenoiser`). */
  readonly perRowSigma: true;
  /** Releases the model's session. */
  dispose(): Promise<void>;
}

/** Options of {@link loadDigitsUNet}. */
export interface LoadUNetOptions extends ModelRuntimeOptions {
  /** The ONNX backend the network runs on (its tensors, runtime and providers). */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding `unet-digits16/`. Default: the repository's `models/`. */
  dir?: ModelsLocation;
  /** Default classifier-free guidance scale. Default 1 (no guidance). */
  guidanceScale?: number;
}

/** σ of each training step of the digit U-Net, from its `scheduler_config.json`, in float64. */
export function digitsUNetSigmas(): Float64Array {
  const c = UNET_DIGITS16_SCHEDULER_CONFIG;
  const b = betas(c.beta_schedule, {
    numTrainTimesteps: c.num_train_timesteps,
    betaStart: c.beta_start,
    betaEnd: c.beta_end,
  });
  return sigmasFromAlphasCumprod(alphasCumprod(b));
}

function labelsOf(cond: unknown, n: number, nullClass: number, label: string): ClassCond {
  const c: ClassCond | undefined =
    cond && typeof cond === 'object' && 'classLabels' in cond
      ? (cond as ClassCond)
      : cond && typeof cond === 'object' && typeof (cond as ArrayLike<number>).length === 'number'
        ? { classLabels: cond as ArrayLike<number> }
        : undefined;
  if (!c || isTensor(c.classLabels)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${label}: cond must be the class labels (an array of integers) or { classLabels, guidanceScale? }, got ${isTensor(cond) ? 'a Tensor' : typeof cond}`,
    );
  }
  const k = c.classLabels.length;
  if (k !== 1 && k !== n) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${label}: ${k} class labels for a batch of ${n} rows (expected 1 or ${n})`,
    );
  }
  for (let i = 0; i < k; i++) {
    const v = c.classLabels[i]!;
    if (!Number.isInteger(v) || v < 0 || v > nullClass) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${label}: class labels must be integers in 0–${nullClass} (${nullClass} = no class), got ${v} at row ${i}`,
      );
    }
  }
  return c;
}

/**
 * Loads the class-conditional DDPM U-Net trained on 16×16 procedural digits (`models/unet-digits16`),
 * verifying its SHA-256, and wraps it as a k-diffusion denoiser with classifier-free guidance: with a
 * scale s ≠ 1 each call runs one doubled batch (the rows' classes and the null class) and returns
 * x − σ·(ε_u + s·(ε_c − ε_u)). The input is scaled by 1/√(σ²+1) and σ becomes the fractional DDPM
 * timestep by log-σ interpolation over the training schedule (k-diffusion's `DiscreteEpsDDPMDenoiser`).
 *
 * @example
 * const D = await loadDigitsUNet({ backend: B });
 * const x0 = await sample('ddim', { denoiser: D, x, sigmas, cond: { classLabels: [3, 7], guidanceScale: 2 } });
 */
export async function loadDigitsUNet(options: LoadUNetOptions): Promise<ClassDenoiser> {
  const card = UNET_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile('loadDigitsUNet', card, 'model.onnx', options);
  const B = options.backend;
  const model = await onnxModel(bytes, {
    backend: B,
    name,
    sessionOptions,
    expect: {
      inputs: {
        sample: { dtype: 'float32' },
        timestep: { dtype: 'float32' },
        class_labels: { dtype: 'int64' },
      },
      outputs: { out_sample: { dtype: 'float32' } },
    },
  });
  const nullClass = card.null_class ?? 10;
  const sigmas = digitsUNetSigmas();
  const label = `loadDigitsUNet '${card.name}'`;

  const run = (x: Tensor, sig: number[], c: ClassCond): Tensor =>
    tidy(() => {
      const n = x.shape[0] ?? 1;
      const scale = c.guidanceScale ?? options.guidanceScale ?? 1;
      const cfg = scale !== 1;
      const rows = sig.length === 1 ? new Array<number>(n).fill(sig[0]!) : sig;
      const labels = Array.from({ length: n }, (_, i) => c.classLabels[c.classLabels.length === 1 ? 0 : i]!);
      const rowShape = [n, 1, 1, 1];
      const perRow = (vals: number[]) => B.tensor(Float32Array.from(vals), rowShape);
      let xin = B.binary('mul', x, perRow(rows.map((s) => 1 / Math.sqrt(s * s + 1))));
      const t = rows.map((s) => sigmaToTimestep(s, sigmas));
      let tAll = t;
      let yAll = labels;
      if (cfg) {
        xin = B.concat([xin, xin], 0);
        tAll = [...t, ...t];
        yAll = [...labels, ...new Array<number>(n).fill(nullClass)];
      }
      const out = model.runSync(
        {
          sample: xin,
          timestep: B.tensor(Float32Array.from(tAll), [tAll.length]),
          class_labels: B.tensor(Int32Array.from(yAll), [yAll.length], 'int32'),
        },
        { out_sample: xin.shape },
      ).out_sample!;
      let eps = out;
      if (cfg) {
        const size = [n, ...x.shape.slice(1)];
        const ec = B.slice(out, [0, 0, 0, 0], size);
        const eu = B.slice(out, [n, 0, 0, 0], size);
        eps = B.lincomb([scale, 1 - scale], [ec, eu]);
      }
      return B.binary('sub', x, B.binary('mul', eps, perRow(rows)));
    });

  const denoiser = ((x: Tensor, sigma: number | ArrayLike<number>, cond?: unknown) => {
    if (!isTensor(x)) throw new TesseraError('INVALID_ARGUMENT', `${label}: x must be a Tensor`);
    const shape = x.shape;
    if (shape.length !== 4 || shape[1] !== 1 || shape[2] !== 16 || shape[3] !== 16) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${label}: x must have shape [N, 1, 16, 16], got [${shape.join(', ')}]`,
      );
    }
    const n = shape[0]!;
    const sig = typeof sigma === 'number' ? [sigma] : Array.from(sigma);
    if (sig.length !== 1 && sig.length !== n) {
      throw new TesseraError('SHAPE_MISMATCH', `${label}: ${sig.length} sigmas for a batch of ${n} rows`);
    }
    if (sig.some((s) => !Number.isFinite(s) || s < 0)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${label}: sigma must be finite and ≥ 0, got [${sig.join(', ')}]`,
      );
    }
    const c = labelsOf(cond, n, nullClass, label);
    if (x.backend === B) return run(x, sig, c);
    return (async () => {
      const xo = await moveToOnnx(x, B);
      const out = run(xo.tensor, sig, c);
      xo.tensor.dispose();
      const back = await moveToBackend(out, B, x.backend);
      out.dispose();
      return back.tensor;
    })();
  }) as ClassDenoiser;
  Object.defineProperty(denoiser, 'model', { value: model });
  Object.defineProperty(denoiser, 'card', { value: card });
  Object.defineProperty(denoiser, 'trainSigmas', { value: sigmas });
  Object.defineProperty(denoiser, 'nullClass', { value: nullClass });
  // one σ per row is supported: mark it so that parallel samplers batch their steps into one call
  Object.defineProperty(denoiser, 'perRowSigma', { value: true });
  denoiser.dispose = () => model.dispose();
  return denoiser;
}
