import { TesseraError } from '@tessera/core';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerDiscreteScheduler,
  FlowMatchEulerDiscreteScheduler,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';

// PixArt-alpha scheduler_config.json (DPM-Solver++), with Python's -Infinity token.
const DPM = `{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++", "beta_end": 0.02,
 "beta_schedule": "linear", "beta_start": 0.0001, "lambda_min_clipped": -Infinity, "solver_order": 2,
 "timestep_spacing": "linspace", "trained_betas": null, "use_karras_sigmas": false, "variance_type": null}`;

describe('scheduler configs', () => {
  it('fromConfig → toConfig returns the config unchanged (unknown keys kept)', () => {
    const sd = {
      _class_name: 'PNDMScheduler',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      steps_offset: 1,
      skip_prk_steps: true,
    };
    for (const S of [DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler]) {
      expect(S.fromConfig(sd).toConfig(), S.name).toEqual(sd);
    }
    const flux = {
      _class_name: 'FlowMatchEulerDiscreteScheduler',
      shift: 3,
      use_dynamic_shifting: true,
      base_shift: 0.5,
      max_shift: 1.15,
    };
    expect(FlowMatchEulerDiscreteScheduler.fromConfig(flux).toConfig()).toEqual(flux);
    expect(DPMSolverMultistepScheduler.fromConfig(DPM).toConfig()['lambda_min_clipped']).toBe(-Infinity);
  });

  it('rejects bad values naming the key', () => {
    expect(() => EulerDiscreteScheduler.fromConfig({ beta_schedule: 'cosine' })).toThrow(/beta_schedule/);
    expect(() => DDIMScheduler.fromConfig({ beta_schedule: 'sigmoid' })).toThrow(TesseraError);
    expect(() =>
      FlowMatchEulerDiscreteScheduler.fromConfig({ use_dynamic_shifting: true }).setTimesteps(10),
    ).toThrow(/mu/);
  });
});
