import { TesseraError } from '@tessera/core';
import {
  betaSigmas,
  exponentialSigmas,
  interpTable,
  karrasSigmas,
  SCHEDULER_DEFAULTS,
  type SchedulerConfig,
  sigmasFromAlphasCumprod,
  sigmaToT,
  timesteps as spacedTimesteps,
  torchLinspaceF32,
} from '@tessera/schedules';

/**
 * The σ table of a VP schedule and the inference grid of diffusers' k-diffusion-style discrete
 * schedulers (Euler, Euler ancestral, Heun, LMS): float32 timesteps by spacing, σ by linear
 * interpolation of the table at those timesteps, optional Karras / exponential / beta conversion
 * with timesteps recovered by `_sigma_to_t`, and the final σ.
 */

const f32 = Math.fround;

/** σ table (ascending in t, float32 values) and its float32 logs, as diffusers keeps them. */
export function sigmaTable(alphasCumprod: Float64Array): { table: Float64Array; logTable: Float64Array } {
  const table = sigmasFromAlphasCumprod(alphasCumprod);
  return { table, logTable: table.map((s) => f32(Math.log(s))) };
}

/** Which σ conversion a config asks for. */
export function sigmaConversion(cfg: SchedulerConfig): 'karras' | 'exponential' | 'beta' | null {
  if (cfg.get('use_karras_sigmas')) return 'karras';
  if (cfg.get('use_exponential_sigmas')) return 'exponential';
  if (cfg.get('use_beta_sigmas')) return 'beta';
  return null;
}

/** diffusers `_convert_to_karras/_exponential/_beta`: range from config sigma_min/max or the input's ends. */
export function convertSigmas(
  kind: 'karras' | 'exponential' | 'beta',
  inSigmas: ArrayLike<number>,
  n: number,
  cfg: SchedulerConfig,
): Float64Array {
  // diffusers reads config.sigma_min/max only where the class declares them (hasattr(self.config, ...)).
  const declared = SCHEDULER_DEFAULTS[cfg.className ?? ''] ?? {};
  const cMin = 'sigma_min' in declared ? (cfg.get('sigma_min') as number | null) : null;
  const cMax = 'sigma_max' in declared ? (cfg.get('sigma_max') as number | null) : null;
  const lo = cMin ?? inSigmas[inSigmas.length - 1]!;
  const hi = cMax ?? inSigmas[0]!;
  if (kind === 'karras') return karrasSigmas(n, lo, hi, 7);
  if (kind === 'exponential') return exponentialSigmas(n, lo, hi);
  return betaSigmas(n, lo, hi, 0.6, 0.6);
}

/** Float32 inference timesteps of a spacing (Euler family: linspace not rounded). */
export function floatTimesteps(cfg: SchedulerConfig, n: number): Float64Array {
  return spacedTimesteps(n, {
    spacing: cfg.get('timestep_spacing'),
    numTrainTimesteps: cfg.get('num_train_timesteps'),
    stepsOffset: cfg.get('steps_offset'),
    float: true,
  });
}

/** Options of the discrete schedulers' `setTimesteps`. */
export interface SetTimestepsOptions {
  /** Custom timesteps (descending) instead of a spacing. */
  timesteps?: readonly number[];
  /** Custom sigmas (descending, including the final one). */
  sigmas?: readonly number[];
}

/** The Euler grid: `timesteps` (n float32 values) and `sigmas` (n + 1, float32 values). */
export function eulerGrid(
  cfg: SchedulerConfig,
  table: Float64Array,
  logTable: Float64Array,
  n: number | undefined,
  opts: SetTimestepsOptions = {},
  features: { conversions: boolean; finalSigmaType: boolean; interpolationType: boolean } = {
    conversions: true,
    finalSigmaType: true,
    interpolationType: true,
  },
): { timesteps: Float64Array; sigmas: Float64Array } {
  const op = `${cfg.className}.setTimesteps`;
  if (opts.timesteps && opts.sigmas)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: pass only one of timesteps or sigmas`);
  if (n !== undefined && (opts.timesteps || opts.sigmas)) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: pass only one of n, timesteps or sigmas`);
  }
  const conv = features.conversions ? sigmaConversion(cfg) : null;
  if (opts.timesteps && conv)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: custom timesteps cannot be used with use_${conv}_sigmas`,
    );
  if (opts.sigmas) {
    const s = Float64Array.from(opts.sigmas, f32);
    if (s.length < 2)
      throw new TesseraError('INVALID_ARGUMENT', `${op}: custom sigmas need at least 2 values`);
    return { timesteps: s.subarray(0, s.length - 1).map((x) => f32(sigmaToT(x, logTable))), sigmas: s };
  }
  let ts: Float64Array;
  if (opts.timesteps) ts = Float64Array.from(opts.timesteps, f32);
  else {
    if (n === undefined) throw new TesseraError('INVALID_ARGUMENT', `${op}: pass n, timesteps or sigmas`);
    ts = floatTimesteps(cfg, n);
  }
  const steps = ts.length;
  let sig: Float64Array;
  const interp = features.interpolationType ? cfg.get('interpolation_type') : 'linear';
  if (interp === 'log_linear') {
    // diffusers: torch.linspace(log σ_max, log σ_min, n + 1).exp() (float32), kept as is.
    sig = torchLinspaceF32(f32(Math.log(table[table.length - 1]!)), f32(Math.log(table[0]!)), steps + 1).map(
      (x) => f32(Math.exp(x)),
    );
  } else {
    sig = ts.map((t) => interpTable(t, table));
  }
  if (conv) {
    sig = convertSigmas(conv, sig, steps, cfg);
    ts = sig.map((s) => f32(sigmaToT(s, logTable)));
  }
  const last = features.finalSigmaType && cfg.get('final_sigmas_type') === 'sigma_min' ? table[0]! : 0;
  const sigmas = new Float64Array(sig.length + 1);
  for (let i = 0; i < sig.length; i++) sigmas[i] = f32(sig[i]!);
  sigmas[sig.length] = f32(last);
  return { timesteps: ts.map(f32), sigmas };
}
