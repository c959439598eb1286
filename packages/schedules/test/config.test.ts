import { TesseraError } from '@tessera/core';
import {
  diffusersConfigToJson,
  fromDiffusersConfig,
  SchedulerConfig,
  toDiffusersConfig,
} from '@tessera/schedules';
import { describe, expect, it } from 'vitest';

// scheduler_config.json files as published on the Hugging Face Hub.
// google/ddpm-cifar10-32 scheduler/scheduler_config.json
const DDPM = `{
  "_class_name": "DDPMScheduler",
  "_diffusers_version": "0.1.1",
  "beta_end": 0.02,
  "beta_schedule": "linear",
  "beta_start": 0.0001,
  "clip_sample": true,
  "num_train_timesteps": 1000,
  "trained_betas": null,
  "variance_type": "fixed_small"
}`;
// runwayml/stable-diffusion-v1-5 scheduler config (PNDM keys) loaded as DDIM
const SD15 = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`;
// stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json
const EULER = `{
  "_class_name": "EulerDiscreteScheduler",
  "_diffusers_version": "0.19.0.dev0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "interpolation_type": "linear",
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "sample_max_value": 1.0,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "timestep_spacing": "leading",
  "trained_betas": null,
  "use_karras_sigmas": false
}`;
// PixArt-alpha scheduler/scheduler_config.json (DPM-Solver++, Python's -Infinity token)
const DPM = `{
  "_class_name": "DPMSolverMultistepScheduler",
  "_diffusers_version": "0.22.0.dev0",
  "algorithm_type": "dpmsolver++",
  "beta_end": 0.02,
  "beta_schedule": "linear",
  "beta_start": 0.0001,
  "dynamic_thresholding_ratio": 0.995,
  "euler_at_final": false,
  "lambda_min_clipped": -Infinity,
  "lower_order_final": true,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "sample_max_value": 1.0,
  "solver_order": 2,
  "solver_type": "midpoint",
  "steps_offset": 0,
  "thresholding": false,
  "timestep_spacing": "linspace",
  "trained_betas": null,
  "use_karras_sigmas": false,
  "use_lu_lambdas": false,
  "variance_type": null
}`;
// black-forest-labs/FLUX.1-dev scheduler/scheduler_config.json
const FLUX = `{
  "_class_name": "FlowMatchEulerDiscreteScheduler",
  "_diffusers_version": "0.30.0.dev0",
  "base_image_seq_len": 256,
  "base_shift": 0.5,
  "max_image_seq_len": 4096,
  "max_shift": 1.15,
  "num_train_timesteps": 1000,
  "shift": 3.0,
  "use_dynamic_shifting": true
}`;

const ALL = { DDPM, SD15, EULER, DPM, FLUX };

describe('diffusers config interop', () => {
  it('round-trips DDPM, DDIM/PNDM, Euler, DPM-Solver++ and FlowMatchEuler configs unchanged', () => {
    for (const [name, text] of Object.entries(ALL)) {
      const expected = JSON.parse(text.replace('-Infinity', '"-inf"'), (_k, v) =>
        v === '-inf' ? -Infinity : v,
      );
      const cfg = fromDiffusersConfig(text);
      expect(cfg.toDiffusersConfig(), name).toEqual(expected);
      expect(Object.keys(cfg.toDiffusersConfig()), name).toEqual(Object.keys(expected)); // key order kept
      expect(toDiffusersConfig(fromDiffusersConfig(cfg.toDiffusersConfig())), name).toEqual(expected);
      // text form: Python json.dumps(indent=2, sort_keys=True); re-reading gives the same object
      expect(fromDiffusersConfig(diffusersConfigToJson(cfg)).toDiffusersConfig(), name).toEqual(expected);
    }
  });

  it('writes Python JSON: sorted keys, 2-space indent, -Infinity, exponent form for small floats', () => {
    const text = diffusersConfigToJson(fromDiffusersConfig(DPM));
    expect(text).toContain('"lambda_min_clipped": -Infinity,');
    expect(text.endsWith('}\n')).toBe(true);
    const keys = [...text.matchAll(/^ {2}"([^"]+)"/gm)].map((m) => m[1]);
    expect(keys).toEqual([...keys].sort());
    expect(diffusersConfigToJson({ beta_start: 1e-5, b: 0.00085, c: [1, 2] })).toBe(
      '{\n  "b": 0.00085,\n  "beta_start": 1e-05,\n  "c": [\n    1,\n    2\n  ]\n}\n',
    );
  });

  it('keeps unknown keys and reads class defaults for absent keys', () => {
    const cfg = fromDiffusersConfig(SD15, { className: 'DDIMScheduler' });
    expect(cfg.get('skip_prk_steps')).toBe(true); // unknown to DDIM, kept
    expect(cfg.get('timestep_spacing')).toBe('leading'); // DDIM default (scheduling_ddim.py __init__)
    expect(cfg.get('steps_offset')).toBe(1);
    expect(cfg.has('timestep_spacing')).toBe(false);
    const euler = fromDiffusersConfig(SD15, { className: 'EulerDiscreteScheduler' });
    expect(euler.get('timestep_spacing')).toBe('linspace'); // Euler default
    expect(fromDiffusersConfig(DPM).get('lambda_min_clipped')).toBe(-Infinity);
    expect(fromDiffusersConfig(FLUX).get('shift_terminal')).toBe(null);
    const changed = cfg.with({ timestep_spacing: 'trailing', my_key: 3 });
    expect(changed.toDiffusersConfig()).toMatchObject({
      timestep_spacing: 'trailing',
      my_key: 3,
      steps_offset: 1,
    });
    expect(cfg.has('timestep_spacing')).toBe(false); // immutable
    expect(JSON.parse(JSON.stringify(cfg))).toEqual(JSON.parse(SD15));
    expect(cfg).toBeInstanceOf(SchedulerConfig);
  });

  it('rejects invalid values with a TesseraError naming the key', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ beta_schedule: 'cosine' }, /"beta_schedule" must be one of .*got "cosine"/],
      [{ num_train_timesteps: 0 }, /"num_train_timesteps" must be an integer/],
      [{ timestep_spacing: 'uniform' }, /"timestep_spacing"/],
      [{ solver_order: 4 }, /"solver_order" must be an integer in \[1, 3\]/],
      [{ steps_offset: -1 }, /"steps_offset"/],
      [{ clip_sample: 'yes' }, /"clip_sample" must be a boolean/],
      [{ trained_betas: [0.1, 2] }, /"trained_betas"/],
      [{ shift: 0 }, /"shift" must be a positive number/],
      [{ use_karras_sigmas: true, use_beta_sigmas: true }, /only one of use_karras_sigmas, use_beta_sigmas/],
    ];
    for (const [obj, msg] of bad) {
      let err: unknown;
      try {
        fromDiffusersConfig(obj);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('INVALID_CONFIG');
      expect((err as Error).message).toMatch(msg);
    }
    expect(() => fromDiffusersConfig('{"a": ')).toThrow(/not valid JSON/);
    expect(() => fromDiffusersConfig('[1, 2]')).toThrow(/expected a JSON object/);
    expect(() => fromDiffusersConfig(DDPM).with({ beta_end: 'x' })).toThrow(/"beta_end"/);
  });
});
