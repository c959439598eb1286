// ParaDiGMS and ParaTAA over the diffusers-API schedulers of @tessera/diffusion, against the
// scheduler's own sequential loop (the independent reference: the diffusers loop
// `x = s.step(model(s.scaleModelInput(x, t), t), t, x, { generator }).prevSample` with one generator
// object passed to every step is the definition of the trajectory both solvers must reach), on CPU
// (bitwise where the brief says so) and on WebGPU where there is one (to float32 accuracy).
//
// The model is the exact ε-prediction of Gaussian data x₀ ~ N(μ, s²) per value (μ a fixed pattern):
// E[ε | x_t] = √(1−ᾱ)·(x_t − √ᾱ·μ)/(ᾱ·s² + 1 − ᾱ), with ᾱ(t) the scheduler's float32 ᾱ table,
// interpolated linearly at fractional timesteps (the Euler schedulers' interpolated grids).
import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  HeunDiscreteScheduler,
  LCMScheduler,
  PNDMScheduler,
  type Scheduler,
  type TimestepModel,
  UniPCMultistepScheduler,
} from '@tessera/diffusion';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.js';
import { PARALLEL_SCHEDULERS, paradigms, parataa, type SchedulerParallelOptions } from '../src/index.js';
import { relErr, SEED, sameBits, why } from './helpers.js';

const backends = await testBackends();
/** The backend of the running suite (set by each describe's beforeAll; tests run in order). */
let B: Backend = backends[0]![1];
const SHAPE = [2, 1, 8, 8];
const D = SHAPE.slice(1).reduce((a, b) => a * b, 1);
const S2 = 0.25; // data variance s²

/** μ on each backend: a fixed smooth pattern in [−0.8, 0.8]. */
const MUS = new Map<Backend, Tensor>();
function muPattern(): Tensor {
  let m = MUS.get(B);
  if (!m) {
    m = B.tensor(
      Float32Array.from({ length: D }, (_, i) => 0.8 * Math.sin(0.37 * i + 0.5)),
      [1, ...SHAPE.slice(1)],
    );
    MUS.set(B, m);
  }
  return m;
}
afterAll(() => {
  for (const m of MUS.values()) m.dispose();
});

/** ᾱ at a (possibly fractional) training timestep, linear between the table's entries. */
function alphaBar(table: Float64Array, t: number): number {
  const lo = Math.min(Math.max(Math.floor(t), 0), table.length - 1);
  const hi = Math.min(lo + 1, table.length - 1);
  const w = t - lo;
  return table[lo]! * (1 - w) + table[hi]! * w;
}

/**
 * The exact ε (or v) model of the Gaussian data for a scheduler's ᾱ table; counts its calls and rows.
 * With d = x − √ᾱ·μ (μ scaled per image by `cond`) and V = ᾱ·s² + 1 − ᾱ: ε̂ = √(1−ᾱ)·d/V, x̂₀ = μ + √ᾱ·s²·d/V, and
 * v̂ = √ᾱ·ε̂ − √(1−ᾱ)·x̂₀ = √ᾱ·√(1−ᾱ)·(1 − s²)·d/V − √(1−ᾱ)·μ.
 */
function gaussianModel(table: Float64Array, pred: 'epsilon' | 'v_prediction' = 'epsilon') {
  const stats = { calls: 0, rows: 0 };
  const model: TimestepModel = (x, t, cond) => {
    const rows = x.shape[0]!;
    const ts = typeof t === 'number' ? new Array<number>(rows).fill(t) : Array.from(t as ArrayLike<number>);
    // cond: one mean scale per image (μ of row r is cond[r]·μ), as class labels would select a class
    const f = cond === undefined ? ts.map(() => 1) : Array.from(cond as ArrayLike<number>);
    expect(f.length).toBe(rows);
    stats.calls++;
    stats.rows += rows;
    const bshape = [rows, ...x.shape.slice(1).map(() => 1)];
    const ab = ts.map((ti) => alphaBar(table, ti));
    const row = (g: (a: number, r: number) => number) => B.tensor(Float32Array.from(ab, g), bshape);
    const sq = row((a, r) => Math.sqrt(a) * f[r]!);
    const k =
      pred === 'epsilon'
        ? row((a) => Math.sqrt(1 - a) / (a * S2 + 1 - a))
        : row((a) => (Math.sqrt(a) * Math.sqrt(1 - a) * (1 - S2)) / (a * S2 + 1 - a));
    const mu = B.binary('mul', muPattern(), sq);
    const d = B.binary('sub', x, mu);
    const temps = [sq, k, mu, d];
    let out = B.binary('mul', d, k);
    if (pred === 'v_prediction') {
      const c = row((a, r) => -Math.sqrt(1 - a) * f[r]!);
      const m = B.binary('mul', muPattern(), c);
      temps.push(c, m, out);
      out = B.binary('add', out, m);
    }
    for (const u of temps) u.dispose();
    return out;
  };
  return { model, stats };
}

interface Case {
  name: string;
  make: () => Scheduler & { alphasCumprod: Float64Array };
  steps: number;
  stepOptions?: Record<string, unknown>;
  pred?: 'epsilon' | 'v_prediction';
}

const CASES: Case[] = [
  { name: 'DDIM η=0', make: () => new DDIMScheduler({}), steps: 10 },
  { name: 'DDIM η=0.5', make: () => new DDIMScheduler({}), steps: 10, stepOptions: { eta: 0.5 } },
  {
    name: 'DDIM v-prediction',
    make: () => new DDIMScheduler({ prediction_type: 'v_prediction' }),
    steps: 10,
    pred: 'v_prediction',
  },
  { name: 'DDPM', make: () => new DDPMScheduler({}), steps: 10 },
  {
    name: 'Euler (churn)',
    make: () => new EulerDiscreteScheduler({}),
    steps: 10,
    stepOptions: { s_churn: 2 },
  },
  { name: 'EulerAncestral', make: () => new EulerAncestralDiscreteScheduler({}), steps: 10 },
  {
    name: 'Euler v-prediction',
    make: () => new EulerDiscreteScheduler({ prediction_type: 'v_prediction' }),
    steps: 10,
    pred: 'v_prediction',
  },
  { name: 'LCM', make: () => new LCMScheduler({}), steps: 6 },
  { name: 'DPMSolverMultistep 2M', make: () => new DPMSolverMultistepScheduler({}), steps: 10 },
  {
    name: 'DPMSolverMultistep 3M SDE',
    make: () => new DPMSolverMultistepScheduler({ solver_order: 3, algorithm_type: 'sde-dpmsolver++' }),
    steps: 10,
  },
  { name: 'UniPCMultistep bh2', make: () => new UniPCMultistepScheduler({}), steps: 10 },
  {
    name: 'UniPCMultistep bh1 order 3',
    make: () => new UniPCMultistepScheduler({ solver_order: 3, solver_type: 'bh1' }),
    steps: 10,
  },
];

/** x_T: Philox normal noise times the scheduler's initNoiseSigma. */
function startNoise(s: Scheduler, seed: number): Tensor {
  const z = B.randn(SHAPE, { seed: seed + 4242 });
  const x = B.lincomb([s.initNoiseSigma], [z]);
  z.dispose();
  return x;
}

/** The scheduler's own loop (one generator object for every step): final sample and x after each step. */
async function sequential(c: Case, model: TimestepModel, x0: Tensor, seed: number, cond: number[]) {
  const s = c.make();
  s.setTimesteps(c.steps);
  const generator = { seed, offset: 0 };
  const steps: Float32Array[] = [(await x0.data()) as Float32Array];
  let x = B.lincomb([1], [x0]);
  for (const t of Array.from(s.timesteps)) {
    const inp = s.scaleModelInput(x, t);
    const out = await model(inp, t, cond);
    if (inp !== x) inp.dispose();
    const r = s.step(out, t, x, { ...c.stepOptions, generator });
    out.dispose();
    if (r.predOriginalSample && r.predOriginalSample !== r.prevSample) r.predOriginalSample.dispose();
    x.dispose();
    x = r.prevSample;
    steps.push((await x.data()) as Float32Array);
  }
  s.dispose();
  x.dispose();
  return { final: steps[steps.length - 1]!, steps };
}

for (const [bn, backend] of backends) {
  const exact = bn === 'cpu';
  /** Bitwise on CPU, else to float32 accuracy. */
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => (exact ? sameBits(a, b) : relErr(a, b) < 1e-5);
  describe(`parallel sampling over diffusers schedulers on ${bn} (${why})`, () => {
    beforeAll(() => {
      B = backend;
    });
    CASES.forEach((c, ci) => {
      it(`${c.name}: window 1 ${exact ? 'is bitwise' : 'matches'} the scheduler loop; converged runs match to 1e-4; Picard's property`, async () => {
        const seed = (SEED + 97 * ci) % 2 ** 31;
        const msg = `${c.name}, TEST_SEED=${SEED}, seed ${seed}`;
        const s = c.make();
        s.setTimesteps(c.steps);
        const { model, stats } = gaussianModel(s.alphasCumprod, c.pred);
        const x = startNoise(s, seed);
        const cond = [1, -0.5];
        const seq = await sequential(c, model, x, seed, cond);
        const T = c.steps;
        const before = B.memory().tensors;
        const base: SchedulerParallelOptions = {
          scheduler: s,
          model,
          rowTimesteps: true,
          x,
          seed,
          cond,
          stepOptions: c.stepOptions,
        };
        for (const solver of [paradigms, parataa]) {
          const one = await solver({ ...base, window: 1 });
          expect(same(await one.x.data(), seq.final), `${solver.name} window 1 (${msg})`).toBe(true);
          expect(one.rounds).toBe(T);
          expect(one.converged).toBe(true);
          one.x.dispose();
          stats.calls = 0;
          stats.rows = 0;
          const par = await solver({ ...base, window: 5, tol: 1e-5, atol: 0 });
          expect(par.converged, msg).toBe(true);
          expect(relErr(await par.x.data(), seq.final), `${solver.name} window 5 (${msg})`).toBeLessThan(
            1e-4,
          );
          // one batched model call of window·n rows per round
          expect(stats.calls).toBe(par.rounds);
          expect(par.largestBatch).toBe(5 * SHAPE[0]!);
          par.x.dispose();
        }
        // ParaTAA warm-started from a converged trajectory (winit) is done in one round
        const tr = await paradigms({ ...base, window: T, tol: 1e-6, keepTrajectory: true });
        const warm = await parataa({ ...base, window: T, tol: 1e-4, atol: 0, winit: tr.trajectory });
        expect(warm.converged, msg).toBe(true);
        expect(warm.rounds, msg).toBe(1);
        expect(relErr(await warm.x.data(), seq.final), `parataa winit (${msg})`).toBeLessThan(1e-4);
        for (const t of [...tr.trajectory!, tr.x, warm.x]) t.dispose();
        // the same without per-row timesteps: one call per step of the window, same result
        const plain = await paradigms({ ...base, rowTimesteps: false, window: 4, tol: 1e-5 });
        expect(plain.converged, msg).toBe(true);
        expect(relErr(await plain.x.data(), seq.final), `paradigms, number timesteps (${msg})`).toBeLessThan(
          1e-4,
        );
        plain.x.dispose();
        // Picard: tol tiny, so the window slides by one step per round; after k rounds steps 1…k are exact
        const k = 3;
        const run = await paradigms({ ...base, window: T, tol: 1e-30, maxRounds: k, keepTrajectory: true });
        expect(run.rounds).toBe(k);
        expect(run.converged).toBe(false);
        const traj = run.trajectory!;
        for (let j = 1; j <= k; j++)
          expect(same(await traj[j]!.data(), seq.steps[j]!), `step ${j} after ${k} rounds (${msg})`).toBe(
            true,
          );
        // the end of the trajectory is not there yet
        if (exact)
          expect(sameBits(await traj[T]!.data(), seq.final), `step ${T} after ${k} rounds (${msg})`).toBe(
            false,
          );
        for (const t of traj) t.dispose();
        run.x.dispose();
        expect(B.memory().tensors, `no tensor left behind (${msg})`).toBe(before);
        // the scheduler passed in was only read
        expect((s as unknown as { currentStepIndex: number | null }).currentStepIndex).toBeNull();
        x.dispose();
        s.dispose();
      });
    });
  });
}

describe(`parallel sampling over diffusers schedulers: bad input (${why})`, () => {
  beforeAll(() => {
    B = backends[0]![1];
  });
  it('bad input → TesseraError naming it', async () => {
    const s = new DDIMScheduler({});
    const { model } = gaussianModel(s.alphasCumprod);
    const x = startNoise(s, SEED);
    const before = B.memory().tensors;
    const expectError = async (o: Partial<SchedulerParallelOptions>, code: string, text: RegExp) => {
      for (const solver of [paradigms, parataa]) {
        const e = await solver({ scheduler: s, model, x, seed: SEED, ...o } as SchedulerParallelOptions).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e, `${solver.name} ${code} ${text}: ${String(e)}`).toBeInstanceOf(TesseraError);
        expect(`${(e as TesseraError).code}: ${(e as TesseraError).message}`).toMatch(text);
        expect((e as TesseraError).code).toBe(code);
        expect((e as TesseraError).message).toMatch(text);
      }
    };
    await expectError({}, 'INVALID_ARGUMENT', /DDIMScheduler.*setTimesteps/);
    s.setTimesteps(8);
    const heun = new HeunDiscreteScheduler({});
    heun.setTimesteps(8);
    await expectError({ scheduler: heun }, 'UNSUPPORTED', /HeunDiscreteScheduler/);
    const pndm = new PNDMScheduler({});
    pndm.setTimesteps(8);
    await expectError({ scheduler: pndm }, 'UNSUPPORTED', /PNDMScheduler/);
    const custom = new DPMSolverMultistepScheduler({});
    custom.setTimesteps(undefined, { timesteps: [900, 500, 100, 1] });
    await expectError({ scheduler: custom }, 'UNSUPPORTED', /custom timesteps/);
    await expectError(
      { model: 3 as unknown as TimestepModel },
      'INVALID_ARGUMENT',
      /model must be a function/,
    );
    await expectError({ stepOptions: { generator: { seed: 1 } } }, 'INVALID_ARGUMENT', /generator/);
    await expectError({ tol: 0 }, 'INVALID_ARGUMENT', /tol/);
    await expectError({ signal: AbortSignal.abort() }, 'ABORTED', /aborted/);
    expect(B.memory().tensors).toBe(before);
    for (const t of [heun, pndm, custom, s]) t.dispose();
    x.dispose();
    expect(PARALLEL_SCHEDULERS).not.toContain('PNDMScheduler');
  });
});
