import { TesseraError } from '@tessera/core';
import { SchedulerConfig } from '@tessera/schedules';
import { didYouMean } from '../samplers/nearest.js';
import type { Scheduler } from './base.js';
import type { ConfigInput } from './common.js';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import { DEISMultistepScheduler } from './deis.js';
import { DPMSolverMultistepScheduler } from './dpmsolver-multistep.js';
import { DPMSolverSinglestepScheduler } from './dpmsolver-singlestep.js';
import { EDMDPMSolverMultistepScheduler, EDMEulerScheduler } from './edm.js';
import { EulerAncestralDiscreteScheduler, EulerDiscreteScheduler } from './euler.js';
import { FlowMatchEulerDiscreteScheduler } from './flow-match-euler.js';
import { HeunDiscreteScheduler } from './heun.js';
import { KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler } from './kdpm2.js';
import { LCMScheduler } from './lcm.js';
import { LMSDiscreteScheduler } from './lms.js';
import { PNDMScheduler } from './pndm.js';
import { TCDScheduler } from './tcd.js';
import { UniPCMultistepScheduler } from './unipc.js';

/** Each scheduler class by its diffusers `_class_name`. */
const CLASSES: Record<string, (config: ConfigInput) => Scheduler> = {
  DDIMScheduler: (c) => DDIMScheduler.fromConfig(c),
  DDPMScheduler: (c) => DDPMScheduler.fromConfig(c),
  DEISMultistepScheduler: (c) => DEISMultistepScheduler.fromConfig(c),
  DPMSolverMultistepScheduler: (c) => DPMSolverMultistepScheduler.fromConfig(c),
  DPMSolverSinglestepScheduler: (c) => DPMSolverSinglestepScheduler.fromConfig(c),
  EDMDPMSolverMultistepScheduler: (c) => EDMDPMSolverMultistepScheduler.fromConfig(c),
  EDMEulerScheduler: (c) => EDMEulerScheduler.fromConfig(c),
  EulerAncestralDiscreteScheduler: (c) => EulerAncestralDiscreteScheduler.fromConfig(c),
  EulerDiscreteScheduler: (c) => EulerDiscreteScheduler.fromConfig(c),
  FlowMatchEulerDiscreteScheduler: (c) => FlowMatchEulerDiscreteScheduler.fromConfig(c),
  HeunDiscreteScheduler: (c) => HeunDiscreteScheduler.fromConfig(c),
  KDPM2AncestralDiscreteScheduler: (c) => KDPM2AncestralDiscreteScheduler.fromConfig(c),
  KDPM2DiscreteScheduler: (c) => KDPM2DiscreteScheduler.fromConfig(c),
  LCMScheduler: (c) => LCMScheduler.fromConfig(c),
  LMSDiscreteScheduler: (c) => LMSDiscreteScheduler.fromConfig(c),
  PNDMScheduler: (c) => PNDMScheduler.fromConfig(c),
  TCDScheduler: (c) => TCDScheduler.fromConfig(c),
  UniPCMultistepScheduler: (c) => UniPCMultistepScheduler.fromConfig(c),
};

/** The diffusers class names {@link schedulerFromConfig} knows, sorted. */
export const SCHEDULER_CLASS_NAMES: readonly string[] = Object.keys(CLASSES).sort();

/** Options of {@link schedulerFromConfig}. */
export interface SchedulerFromConfigOptions {
  /** The class to build, instead of the config's `_class_name` (diffusers' `Class.from_config(cfg)`). */
  className?: string;
}

function classNameOf(config: ConfigInput): unknown {
  if (config instanceof SchedulerConfig) return config.className;
  if (typeof config === 'string') {
    // the class name only; the class's own loader reports bad JSON with its message
    const m = /"_class_name"\s*:\s*"([^"]*)"/.exec(config);
    return m ? m[1] : undefined;
  }
  return config && typeof config === 'object' ? config._class_name : undefined;
}

/**
 * Builds the scheduler a diffusers `scheduler_config.json` names in `_class_name` (as diffusers'
 * `SchedulerMixin.from_pretrained` does), or the class `opts.className`. A config without a class name
 * and no `className`, or a class this package does not have, is a TesseraError (`INVALID_CONFIG`,
 * `UNKNOWN_NAME`) that lists the known classes.
 *
 * @example
 * const s = schedulerFromConfig(await readFile('scheduler/scheduler_config.json', 'utf8'));
 * s.setTimesteps(25);
 */
export function schedulerFromConfig(config: ConfigInput, opts: SchedulerFromConfigOptions = {}): Scheduler {
  const name = opts.className ?? classNameOf(config);
  const known = SCHEDULER_CLASS_NAMES.join(', ');
  if (typeof name !== 'string' || name === '') {
    throw new TesseraError(
      'INVALID_CONFIG',
      `schedulerFromConfig: the config has no _class_name (got ${JSON.stringify(name) ?? 'none'}); pass className, one of ${known}`,
    );
  }
  const make = Object.hasOwn(CLASSES, name) ? CLASSES[name] : undefined;
  if (!make) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `schedulerFromConfig: unknown scheduler class '${name}'${didYouMean(name, SCHEDULER_CLASS_NAMES)}; known: ${known}`,
    );
  }
  return make(config);
}
