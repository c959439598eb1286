import { TesseraError } from '@tessera/core';
import { BETA_SCHEDULES } from './betas.js';
import { SCHEDULER_DEFAULTS } from './config-defaults.js';
import { parsePythonJson, stringifyPythonJson } from './python-json.js';
import { TIMESTEP_SPACINGS } from './timesteps.js';

/**
 * Typed view of the keys of diffusers' `scheduler_config.json` that Tessera understands. Any other key
 * is kept as it is and written back unchanged.
 */
export interface DiffusersSchedulerKeys {
  _class_name: string;
  _diffusers_version: string;
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2' | 'sigmoid' | 'laplace' | 'exp';
  trained_betas: number[] | null;
  prediction_type: 'epsilon' | 'sample' | 'v_prediction' | 'flow_prediction' | 'original_sample';
  timestep_spacing: 'linspace' | 'leading' | 'trailing';
  steps_offset: number;
  rescale_betas_zero_snr: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  variance_type:
    | 'fixed_small'
    | 'fixed_small_log'
    | 'fixed_large'
    | 'fixed_large_log'
    | 'learned'
    | 'learned_range'
    | null;
  solver_order: number;
  algorithm_type: 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver' | 'sde-dpmsolver++' | 'deis';
  solver_type: 'midpoint' | 'heun' | 'bh1' | 'bh2' | 'logrho';
  lower_order_final: boolean;
  euler_at_final: boolean;
  use_karras_sigmas: boolean | null;
  use_exponential_sigmas: boolean | null;
  use_beta_sigmas: boolean | null;
  use_lu_lambdas: boolean;
  use_flow_sigmas: boolean;
  flow_shift: number;
  final_sigmas_type: 'zero' | 'sigma_min';
  lambda_min_clipped: number;
  interpolation_type: 'linear' | 'log_linear';
  timestep_type: 'discrete' | 'continuous';
  sigma_min: number | null;
  sigma_max: number | null;
  shift: number;
  use_dynamic_shifting: boolean;
  base_shift: number | null;
  max_shift: number | null;
  base_image_seq_len: number;
  max_image_seq_len: number;
  invert_sigmas: boolean;
  shift_terminal: number | null;
  time_shift_type: 'exponential' | 'linear';
  stochastic_sampling: boolean;
  predict_x0: boolean;
  disable_corrector: number[];
  solver_p: unknown;
  original_inference_steps: number;
  timestep_scaling: number;
}

type Validator = (v: unknown) => string | null; // returns what was expected, or null when valid

const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
const oneOf =
  (values: readonly (string | null)[]): Validator =>
  (v) =>
    values.includes(v as string | null) ? null : `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
const bool: Validator = (v) => (typeof v === 'boolean' ? null : 'a boolean');
const boolOrNull: Validator = (v) => (v === null || typeof v === 'boolean' ? null : 'a boolean or null');
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Validator =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? null
      : `an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`;
const finite =
  (lo = -Infinity, hi = Infinity, nullable = false): Validator =>
  (v) =>
    (nullable && v === null) || (isNum(v) && Number.isFinite(v) && v >= lo && v <= hi)
      ? null
      : `a finite number in [${lo}, ${hi}]${nullable ? ' or null' : ''}`;
const positive =
  (nullable = false): Validator =>
  (v) =>
    (nullable && v === null) || (isNum(v) && Number.isFinite(v) && v > 0)
      ? null
      : `a positive number${nullable ? ' or null' : ''}`;

const VALIDATORS: Record<keyof DiffusersSchedulerKeys, Validator> = {
  _class_name: (v) => (typeof v === 'string' ? null : 'a string'),
  _diffusers_version: (v) => (typeof v === 'string' ? null : 'a string'),
  num_train_timesteps: int(1),
  beta_start: finite(0, 1),
  beta_end: finite(0, 1),
  beta_schedule: oneOf(BETA_SCHEDULES),
  trained_betas: (v) =>
    v === null || (Array.isArray(v) && v.length > 0 && v.every((x) => isNum(x) && x >= 0 && x <= 1))
      ? null
      : 'null or a non-empty array of numbers in [0, 1]',
  prediction_type: oneOf(['epsilon', 'sample', 'v_prediction', 'flow_prediction', 'original_sample']),
  timestep_spacing: oneOf(TIMESTEP_SPACINGS),
  steps_offset: int(0),
  rescale_betas_zero_snr: bool,
  clip_sample: bool,
  clip_sample_range: positive(),
  set_alpha_to_one: bool,
  thresholding: bool,
  dynamic_thresholding_ratio: (v) => (isNum(v) && v >= 0 && v <= 1 ? null : 'a number in [0, 1]'),
  sample_max_value: positive(),
  variance_type: oneOf([
    'fixed_small',
    'fixed_small_log',
    'fixed_large',
    'fixed_large_log',
    'learned',
    'learned_range',
    null,
  ]),
  solver_order: int(1, 3),
  algorithm_type: oneOf(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis']),
  solver_type: oneOf(['midpoint', 'heun', 'bh1', 'bh2', 'logrho']),
  lower_order_final: bool,
  euler_at_final: bool,
  use_karras_sigmas: boolOrNull,
  use_exponential_sigmas: boolOrNull,
  use_beta_sigmas: boolOrNull,
  use_lu_lambdas: bool,
  use_flow_sigmas: bool,
  flow_shift: positive(),
  final_sigmas_type: oneOf(['zero', 'sigma_min']),
  lambda_min_clipped: (v) => (isNum(v) && v !== Infinity ? null : 'a number (−Infinity allowed)'),
  interpolation_type: oneOf(['linear', 'log_linear']),
  timestep_type: oneOf(['discrete', 'continuous']),
  sigma_min: positive(true),
  sigma_max: positive(true),
  shift: positive(),
  use_dynamic_shifting: bool,
  base_shift: finite(-Infinity, Infinity, true),
  max_shift: finite(-Infinity, Infinity, true),
  base_image_seq_len: int(1),
  max_image_seq_len: int(1),
  invert_sigmas: bool,
  shift_terminal: (v) => (v === null || (isNum(v) && v > 0 && v < 1) ? null : 'null or a number in (0, 1)'),
  time_shift_type: oneOf(['exponential', 'linear']),
  stochastic_sampling: bool,
  predict_x0: bool,
  disable_corrector: (v) =>
    Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0) ? null : 'an array of step indices',
  solver_p: () => null,
  original_inference_steps: int(1),
  timestep_scaling: positive(),
};

/** Names of the scheduler classes whose defaults {@link SchedulerConfig.get} knows. */
export const KNOWN_SCHEDULER_CLASSES: readonly string[] = Object.keys(SCHEDULER_DEFAULTS);

function deepCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepCopy) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = deepCopy(x);
    return out as T;
  }
  return v;
}

function validate(values: Record<string, unknown>, source: string): void {
  for (const [key, value] of Object.entries(values)) {
    const check = VALIDATORS[key as keyof DiffusersSchedulerKeys];
    if (!check) continue;
    const expected = check(value);
    if (expected !== null) {
      throw new TesseraError(
        'INVALID_CONFIG',
        `${source}: key "${key}" must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
      );
    }
  }
  const flags = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'].filter(
    (k) => values[k] === true,
  );
  if (flags.length > 1) {
    throw new TesseraError('INVALID_CONFIG', `${source}: only one of ${flags.join(', ')} may be true`);
  }
}

/**
 * A diffusers scheduler configuration: the keys exactly as read (unknown keys included), plus typed
 * access with the defaults of the scheduler class. Immutable; {@link SchedulerConfig.with} makes a
 * changed copy.
 */
export class SchedulerConfig {
  /** diffusers class name (`_class_name`, or the one passed to {@link fromDiffusersConfig}). */
  readonly className: string | undefined;
  readonly #values: Record<string, unknown>;

  /** Use {@link fromDiffusersConfig}. */
  constructor(values: Record<string, unknown>, className?: string, source = 'scheduler config') {
    validate(values, source);
    this.#values = deepCopy(values);
    const named = values['_class_name'];
    this.className = className ?? (typeof named === 'string' ? named : undefined);
  }

  /** True when the key was present in the configuration (not a default). */
  has(key: string): boolean {
    return Object.hasOwn(this.#values, key);
  }

  /** A key's value, or the class default when absent (undefined when the class has no such key). */
  get<K extends keyof DiffusersSchedulerKeys>(key: K): DiffusersSchedulerKeys[K];
  get(key: string): unknown;
  get(key: string): unknown {
    if (Object.hasOwn(this.#values, key)) return deepCopy(this.#values[key]);
    const defaults = this.className ? SCHEDULER_DEFAULTS[this.className] : undefined;
    return defaults ? deepCopy(defaults[key]) : undefined;
  }

  /** Every key: class defaults overlaid with the configuration's own keys. */
  resolved(): Record<string, unknown> {
    const defaults = this.className ? SCHEDULER_DEFAULTS[this.className] : undefined;
    return { ...deepCopy(defaults ?? {}), ...deepCopy(this.#values) };
  }

  /** A validated copy with some keys set (added at the end when new). */
  with(overrides: Record<string, unknown>): SchedulerConfig {
    return new SchedulerConfig({ ...this.#values, ...overrides }, this.className, 'SchedulerConfig.with');
  }

  /** The configuration as read (plus any {@link with} overrides): same keys, same order, same values. */
  toDiffusersConfig(): Record<string, unknown> {
    return deepCopy(this.#values);
  }

  /** `JSON.stringify` support: the same object as {@link toDiffusersConfig}. */
  toJSON(): Record<string, unknown> {
    return this.toDiffusersConfig();
  }
}

/** Options of {@link fromDiffusersConfig}. */
export interface FromConfigOptions {
  /** Scheduler class whose defaults fill absent keys (default: the config's `_class_name`). */
  className?: string;
}

/**
 * Reads a diffusers `scheduler_config.json`, given as text (Python's `Infinity`/`NaN` tokens accepted)
 * or as a parsed object. Known keys are validated (a TesseraError `INVALID_CONFIG` names the key,
 * the expected values and what came); unknown keys are kept and written back by
 * {@link SchedulerConfig.toDiffusersConfig}.
 *
 * @example
 * const cfg = fromDiffusersConfig(await readFile('scheduler_config.json', 'utf8'));
 * cfg.get('beta_schedule'); // 'scaled_linear'
 */
export function fromDiffusersConfig(
  json: string | Record<string, unknown>,
  opts: FromConfigOptions = {},
): SchedulerConfig {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = parsePythonJson(json);
    } catch (e) {
      throw new TesseraError(
        'INVALID_CONFIG',
        `fromDiffusersConfig: not valid JSON (${(e as Error).message})`,
        { cause: e },
      );
    }
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new TesseraError(
      'INVALID_CONFIG',
      `fromDiffusersConfig: expected a JSON object, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`,
    );
  }
  return new SchedulerConfig(obj as Record<string, unknown>, opts.className, 'fromDiffusersConfig');
}

/** The configuration object of `cfg` (same as `cfg.toDiffusersConfig()`). */
export function toDiffusersConfig(cfg: SchedulerConfig): Record<string, unknown> {
  return cfg.toDiffusersConfig();
}

/**
 * Writes a configuration as diffusers' `save_config` does (`json.dumps(indent=2, sort_keys=True)` and
 * a newline), with Python's `Infinity`/`-Infinity`/`NaN` tokens. JavaScript cannot tell `3.0` from `3`,
 * so integral floats are written without `.0`.
 */
export function diffusersConfigToJson(cfg: SchedulerConfig | Record<string, unknown>): string {
  const obj = cfg instanceof SchedulerConfig ? cfg.toDiffusersConfig() : cfg;
  return `${stringifyPythonJson(obj)}\n`;
}
