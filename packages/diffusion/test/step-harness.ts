// A harness that runs a diffusers-compatible scheduler on the device and a float64 re-derivation of the
// same scheduler (written in each test from diffusers' formulas) side by side on the same inputs. The
// "model" is linear in the sample: out = cx·x + cz·z with a fixed random z and coefficients that may
// depend on the step, evaluated on the device from the scheduler's own x (no readback in the loop) and
// in float64 from the reference's x. Compared after every step relative to max(1, max |want|).
import type { Backend, Tensor } from '@tessera/core';
import type { Scheduler } from '@tessera/diffusion';
import { expect } from 'vitest';
import { normals, rng } from './gaussian.js';

export type Vec = Float64Array;

/** One float64 reference step: model output `out` at call `i` (timestep `t`) for sample `x`. */
export type RefStep = (i: number, t: number, x: Vec, out: Vec, noise: Vec | null) => Vec;

export interface HarnessCase {
  label: string;
  scheduler: Scheduler;
  ref: RefStep;
  /** The model's coefficients [cx, cz] at call i (timestep t). */
  model: (i: number, t: number) => [number, number];
  seed: number;
  /** Elements of the sample (default 512). */
  size?: number;
  /** Scale of the initial sample (default the scheduler's initNoiseSigma). */
  x0Scale?: number;
  /** Draw fresh standard normal noise per step and pass it as varianceNoise. */
  noise?: boolean;
  /** Relative tolerance (default 1e-4; see the test file for its budget). */
  tol?: number;
  /** Extra options for every `step` call (e.g. churn). */
  stepOpts?: Record<string, unknown>;
}

/** xs linear combination in float64. */
export function lc64(terms: [number, Vec][]): Vec {
  const out = new Float64Array(terms[0]![1].length);
  for (const [c, v] of terms) for (let j = 0; j < out.length; j++) out[j]! += c * v[j]!;
  return out;
}

/** Runs the scheduler over all its timesteps against the reference; returns the worst relative error. */
export async function compareSteps(B: Backend, c: HarnessCase): Promise<number> {
  const r = rng(c.seed);
  const size = c.size ?? 512;
  const s = c.scheduler;
  const scale = c.x0Scale ?? s.initNoiseSigma;
  let x64: Vec = Float64Array.from(normals(r, size), (v) => Math.fround(v * scale));
  const z64 = Float64Array.from(normals(r, size), Math.fround);
  const before = B.memory().tensors;
  const z = B.tensor(Float32Array.from(z64), [size]);
  let x = B.tensor(Float32Array.from(x64), [size]);
  let worst = 0;
  const n = s.timesteps.length;
  for (let i = 0; i < n; i++) {
    const t = s.timesteps[i]!;
    const [cx, cz] = c.model(i, t);
    const noise64 = c.noise ? Float64Array.from(normals(r, size), Math.fround) : null;
    const out64 = lc64([
      [cx, x64],
      [cz, z64],
    ]);
    const want = c.ref(i, t, x64, out64, noise64);
    const out = B.lincomb([cx, cz], [x, z]);
    const noise = noise64 ? B.tensor(Float32Array.from(noise64), [size]) : undefined;
    const step = (s.step as (m: Tensor, t: number, x: Tensor, o: object) => ReturnType<Scheduler['step']>)(
      out,
      t,
      x,
      { ...c.stepOpts, ...(noise ? { varianceNoise: noise } : {}) },
    );
    out.dispose();
    noise?.dispose();
    step.predOriginalSample?.dispose();
    x.dispose();
    x = step.prevSample;
    const got = await x.data();
    let m = 1;
    for (const v of want) m = Math.max(m, Math.abs(v));
    let e = 0;
    let at = 0;
    for (let j = 0; j < size; j++) {
      const d = Math.abs(got[j]! - want[j]!);
      if (!(d <= e)) [e, at] = [d, j];
    }
    worst = Math.max(worst, e / m);
    expect(
      e / m,
      `${c.label} call ${i} (t = ${t}): [${at}] ${got[at]} vs ${want[at]} (scale ${m.toFixed(3)}; seed ${c.seed})`,
    ).toBeLessThanOrEqual(c.tol ?? 1e-4);
    x64 = want;
  }
  x.dispose();
  z.dispose();
  s.dispose();
  expect(B.memory().tensors, `${c.label}: tensors leaked`).toBe(before);
  return worst;
}

/** ᾱ (float64) of diffusers' β schedules: linear or scaled_linear (linspace of √β, squared). */
export function alphasCumprod64(
  schedule: 'linear' | 'scaled_linear',
  b0: number,
  b1: number,
  N = 1000,
): number[] {
  const out: number[] = [];
  let p = 1;
  for (let i = 0; i < N; i++) {
    const beta =
      schedule === 'linear'
        ? b0 + ((b1 - b0) * i) / (N - 1)
        : (Math.sqrt(b0) + ((Math.sqrt(b1) - Math.sqrt(b0)) * i) / (N - 1)) ** 2;
    p *= 1 - beta;
    out.push(p);
  }
  return out;
}

export { SD15 } from '../../../test-utils/configs';
