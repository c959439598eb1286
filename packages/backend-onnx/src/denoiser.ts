import { isTensor, type Tensor, TesseraError, tidy } from '@tessera/core';
import { moveToBackend, moveToOnnx } from './interop.js';
import { type ModelSource, type OnnxModel, type OnnxModelOptions, onnxModel } from './model.js';
import { fmtSpec } from './model-io.js';

/** What the model predicts (diffusers' `prediction_type`, plus `flow` for rectified-flow velocity). */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample' | 'flow';

/** The training schedule of a discrete VP model: diffusers' `alphas_cumprod`, or the σ of each step. */
export type DiscreteSchedule = { alphasCumprod: ArrayLike<number> } | { sigmas: ArrayLike<number> };

/** Options of {@link onnxDenoiser}. */
export interface OnnxDenoiserOptions extends Omit<OnnxModelOptions, 'expect'> {
  predictionType: PredictionType;
  /** Discrete VP schedule (σ → timestep by log-σ interpolation, input scaled by 1/√(σ²+1)). */
  schedule?: DiscreteSchedule;
  /**
   * How σ becomes the timestep input: `discrete` (default with a schedule), `flow`
   * (t = σ/(1+σ), times `timestepScale`; default for `flow`), `sigma` (σ itself; otherwise the default).
   */
  timestep?: 'discrete' | 'flow' | 'sigma';
  /** Multiplier of the flow time fed to the model (diffusers' SD3 transformer takes t·1000). Default 1000. */
  timestepScale?: number;
  /** Model input names; defaults follow diffusers/Optimum UNet exports. */
  inputNames?: { sample?: string; timestep?: string; encoderHiddenStates?: string };
  /** Model output name. Default `out_sample`. */
  outputName?: string;
  /** Classifier-free guidance scale used when `cond` has `uncond` (default 1: no guidance). */
  guidanceScale?: number;
}

/** Conditioning of an ONNX denoiser call: text embeddings and, for CFG, the unconditional ones. */
export interface OnnxDenoiserCond {
  /** `[1 or N, L, E]` embeddings fed to `encoder_hidden_states`. */
  encoderHiddenStates: Tensor;
  /** Unconditional embeddings; with a guidance scale ≠ 1 the batch is doubled (CFG batching). */
  uncond?: Tensor;
  /** Overrides the adapter's guidance scale. */
  guidanceScale?: number;
}

/**
 * A k-diffusion denoiser D(x, σ) → x₀ backed by an ONNX model. σ may be a number or one per batch row
 * (an array, or a 1-D tensor that is read back once); per-row σ feeds the model one `timestep` per row
 * in a single run. Rows that all share one σ take the scalar path.
 */
export interface OnnxDenoiser {
  (x: Tensor, sigma: number | ArrayLike<number> | Tensor, cond?: unknown): Tensor | Promise<Tensor>;
  /** Always true: σ may be one value per batch row (`@tessera/diffusion`'s `RowDenoiser` marker). */
  readonly perRowSigma: true;
  /** The loaded model. */
  readonly model: OnnxModel;
  /** Releases the model's session. */
  dispose(): Promise<void>;
}

/** σ of each training step of a VP schedule: √((1 − ᾱ)/ᾱ). */
export function scheduleSigmas(schedule: DiscreteSchedule): Float64Array {
  if ('sigmas' in schedule) return Float64Array.from(schedule.sigmas);
  return Float64Array.from(schedule.alphasCumprod, (a) => Math.sqrt((1 - a) / a));
}

/** k-diffusion's `sigma_to_t`: the fractional step index of σ by linear interpolation in log σ. */
export function sigmaToTimestep(sigma: number, sigmas: Float64Array): number {
  const ls = Math.log(Math.max(sigma, 1e-10));
  const n = sigmas.length;
  if (ls <= Math.log(sigmas[0]!)) return 0;
  if (ls >= Math.log(sigmas[n - 1]!)) return n - 1;
  let lo = 0;
  while (lo < n - 2 && Math.log(sigmas[lo + 1]!) <= ls) lo++;
  const a = Math.log(sigmas[lo]!);
  const b = Math.log(sigmas[lo + 1]!);
  return lo + (ls - a) / (b - a);
}

function coefficients(
  pt: PredictionType,
  mode: string,
  s: number,
): { cIn: number; cSkip: number; cOut: number } {
  if (mode === 'flow') {
    // x_t = x/(1+σ) at t = σ/(1+σ); the model predicts v = ε − x₀, so x₀ = x_t − t·v
    return { cIn: 1 / (1 + s), cSkip: 1 / (1 + s), cOut: -s / (1 + s) };
  }
  const cIn = mode === 'discrete' ? 1 / Math.sqrt(s * s + 1) : 1;
  if (pt === 'epsilon') return { cIn, cSkip: 1, cOut: -s };
  if (pt === 'v_prediction') return { cIn, cSkip: 1 / (s * s + 1), cOut: -s / Math.sqrt(s * s + 1) };
  return { cIn, cSkip: 0, cOut: 1 };
}

/**
 * Loads an ONNX diffusion model as a k-diffusion denoiser. Reads the model's declared inputs and
 * rejects a model without the expected names (MODEL_MISMATCH lists expected and actual I/O).
 *
 * @example
 * const D = await onnxDenoiser('unet/model.onnx', { backend: B, predictionType: 'epsilon', schedule: { alphasCumprod } });
 * const x0 = await D(x, 14.6, { encoderHiddenStates: text, uncond: empty, guidanceScale: 7.5 });
 */
export async function onnxDenoiser(
  source: ModelSource | OnnxModel,
  options: OnnxDenoiserOptions,
): Promise<OnnxDenoiser> {
  const pt = options.predictionType;
  if (!['epsilon', 'v_prediction', 'sample', 'flow'].includes(pt)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `onnxDenoiser: predictionType must be epsilon, v_prediction, sample or flow, got '${pt}'`,
    );
  }
  const mode = options.timestep ?? (options.schedule ? 'discrete' : pt === 'flow' ? 'flow' : 'sigma');
  if (mode === 'discrete' && !options.schedule)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      "onnxDenoiser: timestep 'discrete' needs a schedule (alphasCumprod or sigmas)",
    );
  const sigmas = options.schedule ? scheduleSigmas(options.schedule) : undefined;
  const names = {
    sample: options.inputNames?.sample ?? 'sample',
    timestep: options.inputNames?.timestep ?? 'timestep',
    ehs: options.inputNames?.encoderHiddenStates ?? 'encoder_hidden_states',
    out: options.outputName ?? 'out_sample',
  };
  const float = ['float32', 'float16', 'float64'];
  const model =
    source instanceof Object && 'runSync' in source
      ? (source as OnnxModel)
      : await onnxModel(source as ModelSource, {
          ...options,
          expect: {
            inputs: { [names.sample]: { dtype: float }, [names.timestep]: {} },
            outputs: { [names.out]: { dtype: float } },
          },
        });
  const extra = model.inputs.filter((v) => ![names.sample, names.timestep, names.ehs].includes(v.name));
  const hasEhs = model.inputs.some((v) => v.name === names.ehs);
  if (
    extra.length ||
    !model.input(names.sample) ||
    !model.input(names.timestep) ||
    !model.output(names.out)
  ) {
    await model.dispose();
    throw new TesseraError(
      'MODEL_MISMATCH',
      `onnxDenoiser '${model.source}': expected inputs ${names.sample}, ${names.timestep}[, ${names.ehs}] and output ${names.out}; model declares inputs ${model.inputs.map(fmtSpec).join(', ')}; outputs ${model.outputs.map(fmtSpec).join(', ')}`,
    );
  }
  const tSpec = model.input(names.timestep)!;
  const tInt = !float.includes(tSpec.type);
  const B = model.backend;

  const timesteps = (s: number[]): number[] =>
    s.map((v) => {
      const t =
        mode === 'discrete'
          ? sigmaToTimestep(v, sigmas!)
          : mode === 'flow'
            ? (v / (1 + v)) * (options.timestepScale ?? 1000)
            : v;
      return tInt ? Math.round(t) : t;
    });

  const run = (x: Tensor, sig: number[], cond: unknown): Tensor =>
    tidy(() => {
      const n = x.shape[0] ?? 1;
      const perRow = sig.length > 1;
      let c: OnnxDenoiserCond | undefined;
      if (hasEhs) {
        if (isTensor(cond)) c = { encoderHiddenStates: cond };
        else if (cond && typeof cond === 'object' && isTensor((cond as OnnxDenoiserCond).encoderHiddenStates))
          c = cond as OnnxDenoiserCond;
        else
          throw new TesseraError(
            'INVALID_ARGUMENT',
            `onnxDenoiser '${model.source}': the model takes '${names.ehs}'; pass cond = a Tensor or { encoderHiddenStates, uncond?, guidanceScale? }`,
          );
      }
      const scale = c?.guidanceScale ?? options.guidanceScale ?? 1;
      const cfg = !!c?.uncond && scale !== 1;
      const k = sig.map((v) => coefficients(pt, mode, v));
      const rowShape = [n, ...x.shape.slice(1).map(() => 1)];
      const perRowCoef = (vals: number[]) => B.tensor(Float32Array.from(vals), rowShape);
      let xin = perRow
        ? B.binary('mul', x, perRowCoef(k.map((q) => q.cIn)))
        : k[0]!.cIn === 1
          ? x
          : B.lincomb([k[0]!.cIn], [x]);
      if (cfg) xin = B.concat([xin, xin], 0);
      const t = timesteps(sig.length === 1 ? new Array<number>(n).fill(sig[0]!) : sig);
      const tAll = cfg ? [...t, ...t] : t;
      // rank 0 (or unknown, which ONNX Runtime also reports as []): a scalar unless σ varies per row
      const tShape =
        tSpec.shape.length === 0 ? (perRow ? [tAll.length] : []) : tSpec.shape[0] === 1 ? [1] : [tAll.length];
      const tv = tShape.length === 0 || tShape[0] === 1 ? tAll.slice(0, 1) : tAll;
      const feeds: Record<string, Tensor> = {
        [names.sample]: xin,
        [names.timestep]: B.tensor(tInt ? Int32Array.from(tv) : Float32Array.from(tv), tShape),
      };
      if (c) {
        const rows = (e: Tensor) => (e.shape[0] === n ? e : B.broadcastTo(e, [n, ...e.shape.slice(1)]));
        feeds[names.ehs] = cfg
          ? B.concat([rows(c.uncond!), rows(c.encoderHiddenStates)], 0)
          : rows(c.encoderHiddenStates);
      }
      let out = model.runSync(feeds, { [names.out]: xin.shape })[names.out]!;
      if (cfg) {
        const size = [n, ...x.shape.slice(1)];
        const u = B.slice(
          out,
          x.shape.map(() => 0),
          size,
        );
        const cc = B.slice(out, [n, ...x.shape.slice(1).map(() => 0)], size);
        out = B.lincomb([1 - scale, scale], [u, cc]);
      }
      if (perRow) {
        return B.binary(
          'add',
          B.binary('mul', x, perRowCoef(k.map((q) => q.cSkip))),
          B.binary('mul', out, perRowCoef(k.map((q) => q.cOut))),
        );
      }
      return k[0]!.cSkip === 0 && k[0]!.cOut === 1
        ? B.lincomb([1], [out])
        : B.lincomb([k[0]!.cSkip, k[0]!.cOut], [x, out]);
    });

  const call = (x: Tensor, sigma: number | ArrayLike<number>, cond: unknown): Tensor | Promise<Tensor> => {
    const list = typeof sigma === 'number' ? [sigma] : Array.from(sigma);
    if (list.length !== 1 && list.length !== (x.shape[0] ?? 1)) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `onnxDenoiser '${model.source}': ${list.length} sigmas for a batch of ${x.shape[0]} rows`,
      );
    }
    const sig = list.every((v) => v === list[0]) ? list.slice(0, 1) : list;
    if (x.backend === B) return run(x, sig, cond);
    // x lives on another backend: hand it over and back, on the GPU when both sides share a WebGPU
    // device (onnxruntime-web), else through the host (one round trip per call)
    return (async () => {
      const xo = await moveToOnnx(x, B);
      const out = run(xo.tensor, sig, cond);
      xo.tensor.dispose();
      const back = await moveToBackend(out, B, x.backend);
      out.dispose();
      return back.tensor;
    })();
  };
  const denoiser = ((
    x: Tensor,
    sigma: number | ArrayLike<number> | Tensor,
    cond?: unknown,
  ): Tensor | Promise<Tensor> => {
    if (!isTensor(x))
      throw new TesseraError('INVALID_ARGUMENT', `onnxDenoiser '${model.source}': x must be a Tensor`);
    if (isTensor(sigma)) {
      if (sigma.rank > 1 || sigma.size !== (x.shape[0] ?? 1)) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `onnxDenoiser '${model.source}': a σ tensor must hold one value per row (${x.shape[0]}), got shape [${sigma.shape.join(', ')}]`,
        );
      }
      return sigma.data().then((v) => call(x, Array.from(v as ArrayLike<number>), cond));
    }
    return call(x, sigma, cond);
  }) as OnnxDenoiser;
  Object.defineProperty(denoiser, 'perRowSigma', { value: true });
  Object.defineProperty(denoiser, 'model', { value: model });
  denoiser.dispose = () => model.dispose();
  return denoiser;
}
