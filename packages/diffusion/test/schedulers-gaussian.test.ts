import { createCpuBackend, scope, setBackend, type Tensor } from '@tessera/core';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  FlowMatchEulerDiscreteScheduler,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { D, epsModel, MU, maxErr, pfThenDenoise, S, yT } from './gaussian-problem.ts';

// Data: every element x₀ ~ N(μ, s²), with the closed forms of gaussian-problem.ts (VP model, PF-ODE), and for
// flow matching:
//   flow: x_σ = (1−σ)x₀ + σε, v̂ = E[ε − x₀ | x_σ], x(σ) = (1−σ)μ + (x_T − (1−σ_T)μ)·√((1−σ)²s² + σ²)/√((1−σ_T)²s² + σ_T²)
const SEED = Number(process.env.TEST_SEED ?? Date.now() % 100000);
const B = createCpuBackend();
await setBackend(B);
console.log(`[schedulers-gaussian] seed ${SEED} (replay with TEST_SEED=${SEED})`);

const SD15 = {
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  steps_offset: 1,
  clip_sample: false,
};

function stats(v: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i]!;
  m /= v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i]! - m) ** 2;
  return { mean: m, std: Math.sqrt(q / (v.length - 1)) };
}

async function runDDIM(n: number, seed: number, eta = 0) {
  // η = 0: ᾱ = 1 after the last step, so that step is the exact x̂₀ (target pfThenDenoise).
  const s = DDIMScheduler.fromConfig({ ...SD15, set_alpha_to_one: eta === 0 });
  s.setTimesteps(n);
  const t0 = s.timesteps[0]!;
  const sigT = Math.sqrt((1 - s.alphasCumprod[t0]!) / s.alphasCumprod[t0]!);
  const y = await yT(B, sigT, seed);
  let x = B.tensor(
    Float32Array.from(y, (v) => v * Math.sqrt(s.alphasCumprod[t0]!)),
    [1, 4, 32, 32],
  );
  const gen = { seed: seed + 1, offset: 0 };
  for (const t of s.timesteps) {
    const next = scope(
      () => s.step(epsModel(x, s.alphasCumprod[t]!), t, x, { eta, generator: gen }).prevSample,
    );
    x.dispose();
    x = next;
  }
  const af = s.finalAlphaCumprod;
  const tl = s.timesteps[n - 1]!;
  const sl = Math.sqrt((1 - s.alphasCumprod[tl]!) / s.alphasCumprod[tl]!);
  return { x, want: y.map((v) => pfThenDenoise(v, sigT, sl)), scale: Math.sqrt(af), sigmaLast: sl };
}

async function runEuler(n: number, seed: number, ancestral = false, karras = false) {
  const s = ancestral
    ? EulerAncestralDiscreteScheduler.fromConfig(SD15)
    : EulerDiscreteScheduler.fromConfig({ ...SD15, use_karras_sigmas: karras });
  s.setTimesteps(n);
  const sigT = s.sigmas[0]!;
  expect(s.initNoiseSigma).toBeCloseTo(sigT, 5); // linspace spacing
  const y = await yT(B, sigT, seed);
  let x = B.tensor(Float32Array.from(y), [1, 4, 32, 32]);
  const gen = { seed: seed + 1, offset: 0 };
  for (let i = 0; i < s.timesteps.length; i++) {
    const t = s.timesteps[i]!;
    const sig = s.sigmas[i]!;
    const next = scope(() => {
      const inp = s.scaleModelInput(x, t); // x/√(σ²+1): VP coordinates
      return s.step(epsModel(inp, 1 / (1 + sig * sig)), t, x, { generator: gen }).prevSample;
    });
    x.dispose();
    x = next;
  }
  const sl = s.sigmas[s.timesteps.length - 1]!;
  return { x, want: y.map((v) => pfThenDenoise(v, sigT, sl)), sigmaLast: sl };
}

async function runDPM(n: number, seed: number, cfg: Record<string, unknown> = {}) {
  const s = DPMSolverMultistepScheduler.fromConfig({ ...SD15, ...cfg });
  s.setTimesteps(n);
  const sigT = s.sigmas[0]!;
  const y = await yT(B, sigT, seed);
  const a0 = 1 / Math.sqrt(1 + sigT * sigT);
  let x = B.tensor(
    Float32Array.from(y, (v) => v * a0),
    [1, 4, 32, 32],
  );
  const gen = { seed: seed + 1, offset: 0 };
  for (let i = 0; i < s.timesteps.length; i++) {
    const sig = s.sigmas[i]!;
    const next = scope(
      () => s.step(epsModel(x, 1 / (1 + sig * sig)), s.timesteps[i]!, x, { generator: gen }).prevSample,
    );
    x.dispose();
    x = next;
  }
  s.dispose();
  const sl = s.sigmas[s.timesteps.length - 1]!;
  return { x, want: y.map((v) => pfThenDenoise(v, sigT, sl)), sigmaLast: sl };
}

/** Posterior mean E[x₀ | y] in VE coordinates (y = x₀ + σ·ε). */
const denoise = (y: number, sigma: number) => MU + ((S * S) / (S * S + sigma * sigma)) * (y - MU);

/** Float64 re-derivations of the samplers, one element at a time (k-diffusion / DDIM papers' formulas). */
const ref64 = {
  /** DDIM (η = 0) in VP coordinates: x' = √ᾱ' x̂₀ + √(1−ᾱ') ε̂. */
  ddim(
    x: number,
    ts: ArrayLike<number>,
    prevOf: (t: number) => number,
    ac: ArrayLike<number>,
    af: number,
  ): number {
    for (let i = 0; i < ts.length; i++) {
      const a = ac[ts[i]!]!;
      const p = prevOf(ts[i]!);
      const ap = p >= 0 ? ac[p]! : af;
      const sig = Math.sqrt((1 - a) / a);
      const x0 = denoise(x / Math.sqrt(a), sig);
      const eps = (x - Math.sqrt(a) * x0) / Math.sqrt(1 - a);
      x = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
    }
    return x;
  },
  /** Euler in σ (Karras et al. 2022, Algorithm 1 without churn). */
  euler(y: number, sig: ArrayLike<number>): number {
    for (let i = 0; i + 1 < sig.length; i++)
      y += ((y - denoise(y, sig[i]!)) / sig[i]!) * (sig[i + 1]! - sig[i]!);
    return y;
  },
  /** DPM-Solver++(2M), k-diffusion `sample_dpmpp_2m` (first-order first and last-to-zero steps). */
  dpmpp2m(y: number, sig: ArrayLike<number>): number {
    let old = 0;
    let hLast = 0;
    for (let i = 0; i + 1 < sig.length; i++) {
      const den = denoise(y, sig[i]!);
      const sn = sig[i + 1]!;
      if (sn === 0) {
        y = den;
        break;
      }
      const h = -Math.log(sn) + Math.log(sig[i]!);
      const r = hLast / h;
      const d = i === 0 ? den : (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old;
      y = (sn / sig[i]!) * y - Math.expm1(-h) * d;
      old = den;
      hLast = h;
    }
    return y;
  },
};

describe('schedulers on an exact Gaussian denoiser', () => {
  it('DDIM (η = 0) equals the float64 DDIM recursion and converges at first order', async () => {
    const errs: number[] = [];
    for (const n of [10, 20, 40, 100]) {
      const { x, want, scale, sigmaLast } = await runDDIM(n, SEED);
      const s = DDIMScheduler.fromConfig({ ...SD15, set_alpha_to_one: true });
      s.setTimesteps(n);
      const t0 = s.timesteps[0]!;
      const y = await yT(B, Math.sqrt((1 - s.alphasCumprod[t0]!) / s.alphasCumprod[t0]!), SEED);
      const r64 = y.map((v) =>
        ref64.ddim(
          v * Math.sqrt(s.alphasCumprod[t0]!),
          s.timesteps,
          (t) => t - Math.floor(1000 / n),
          s.alphasCumprod,
          1,
        ),
      );
      expect(await maxErr(x, r64), `DDIM ${n} vs float64`).toBeLessThan(2e-4);
      errs.push(await maxErr(x, want));
      if (n === 100) {
        const st = stats(await x.data());
        expect(Math.abs(st.mean / scale - MU)).toBeLessThan((4 * S) / Math.sqrt(D) + 0.01);
        expect(Math.abs(st.std - (S * S) / Math.hypot(S, sigmaLast)) / S).toBeLessThan(0.06);
      }
      x.dispose();
    }
    console.log('DDIM max error vs PF-ODE at 10/20/40/100 steps', errs);
    for (let i = 1; i < errs.length; i++) expect(errs[i]!).toBeLessThan(errs[i - 1]!);
    const order = Math.log2(errs[1]! / errs[2]!);
    expect(order).toBeGreaterThan(0.7);
    expect(order).toBeLessThan(1.5);
  });

  it('Euler (plain and Karras) equals the float64 Euler recursion and converges at first order', async () => {
    for (const karras of [false, true]) {
      const errs: number[] = [];
      for (const n of [10, 20, 40, 100]) {
        const { x, want, sigmaLast } = await runEuler(n, SEED, false, karras);
        const s = EulerDiscreteScheduler.fromConfig({ ...SD15, use_karras_sigmas: karras });
        s.setTimesteps(n);
        const y = await yT(B, s.sigmas[0]!, SEED);
        expect(
          await maxErr(
            x,
            y.map((v) => ref64.euler(v, s.sigmas)),
          ),
          `Euler ${n} vs float64`,
        ).toBeLessThan(2e-4);
        errs.push(await maxErr(x, want));
        if (n === 100) {
          const st = stats(await x.data());
          expect(Math.abs(st.mean - MU)).toBeLessThan((4 * S) / Math.sqrt(D) + 0.01);
          expect(Math.abs(st.std - (S * S) / Math.hypot(S, sigmaLast)) / S).toBeLessThan(0.06);
        }
        x.dispose();
      }
      console.log(`Euler${karras ? ' Karras' : ''} max error vs PF-ODE at 10/20/40/100 steps`, errs);
      for (let i = 1; i < errs.length; i++) expect(errs[i]!).toBeLessThan(errs[i - 1]!);
      const order = Math.log2(errs[1]! / errs[2]!);
      expect(order).toBeGreaterThan(0.7);
      expect(order).toBeLessThan(1.6);
    }
  });

  it('DPM-Solver++(2M) equals k-diffusion sample_dpmpp_2m in float64; higher orders beat order 1', async () => {
    for (const n of [10, 20]) {
      const { x } = await runDPM(n, SEED, { lower_order_final: false });
      const s = DPMSolverMultistepScheduler.fromConfig({ ...SD15, lower_order_final: false });
      s.setTimesteps(n);
      const y = await yT(B, s.sigmas[0]!, SEED);
      expect(
        await maxErr(
          x,
          y.map((v) => ref64.dpmpp2m(v, s.sigmas)),
        ),
        `2M ${n} vs float64`,
      ).toBeLessThan(2e-4);
      x.dispose();
    }
    const errs: Record<number, number[]> = {};
    for (const order of [1, 2, 3]) {
      errs[order] = [];
      for (const n of [10, 20, 40]) {
        const { x, want } = await runDPM(n, SEED, { solver_order: order, lower_order_final: false });
        errs[order]!.push(await maxErr(x, want));
        x.dispose();
      }
    }
    console.log('DPM-Solver++ orders 1/2/3 max error vs PF-ODE at 10/20/40 steps', errs);
    for (const n of [0, 1, 2]) {
      expect(errs[2]![n]!).toBeLessThan(errs[1]![n]! / 3);
      expect(errs[3]![n]!).toBeLessThan(errs[1]![n]! / 3);
    }
    expect(errs[2]![1]!).toBeLessThan(0.02);
  });

  it('DPM-Solver++ 2M Karras at 20 steps lands on the data distribution', async () => {
    const { x, want, sigmaLast } = await runDPM(20, SEED, { use_karras_sigmas: true });
    expect(await maxErr(x, want), `seed ${SEED}`).toBeLessThan(0.05);
    const st = stats(await x.data());
    // The sampler is affine in y and keeps y ≡ μ fixed, so its mean error is sampling error only: the
    // mean of D = 4096 outputs of std sd = s²/√(s² + σ_last²) has standard error sd/√D. 6 of them:
    // P ≈ 2e-9 (4 gave 6e-5 per run). The std's relative standard error is 1/√(2D) ≈ 0.011: 0.06 is 5.4.
    const sd = (S * S) / Math.hypot(S, sigmaLast);
    expect(Math.abs(st.mean - MU), `mean ${st.mean}, seed ${SEED}`).toBeLessThan((6 * sd) / Math.sqrt(D));
    expect(Math.abs(st.std - sd) / S, `std ${st.std}, seed ${SEED}`).toBeLessThan(0.06);
    x.dispose();
  });

  it('stochastic samplers (DDIM η = 1, Euler ancestral, SDE-DPM-Solver++) match their exact mean and variance', async () => {
    // Each step is affine in x plus independent noise: x' = A·x + b + q·z, so the output's exact mean and
    // variance follow from m' = A m + b, v' = A² v + q² (float64, written from the papers' update rules).
    const affine = (steps: [number, number, number][], m: number, v: number) => {
      for (const [A, b, q] of steps) {
        m = A * m + b;
        v = A * A * v + q * q;
      }
      return { mean: m, std: Math.sqrt(v) };
    };
    const post = (sig: number) => (S * S) / (S * S + sig * sig); // VE posterior-mean slope
    const runs: [string, Tensor, { mean: number; std: number }][] = [];
    {
      const n = 100;
      const d = await runDDIM(n, SEED + 7, 1);
      const s = DDIMScheduler.fromConfig(SD15);
      s.setTimesteps(n);
      const ac = s.alphasCumprod;
      const steps = Array.from(s.timesteps, (t): [number, number, number] => {
        const a = ac[t]!;
        const p = t - Math.floor(1000 / n);
        const ap = p >= 0 ? ac[p]! : s.finalAlphaCumprod;
        const std = Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap)); // η = 1
        const k = (Math.sqrt(a) * S * S) / (a * S * S + 1 - a); // x̂₀ = μ + k(x − √a μ)
        const dir = Math.sqrt(1 - ap - std * std) / Math.sqrt(1 - a); // ε̂ = (x − √a x̂₀)/√(1−a)
        const A = Math.sqrt(ap) * k + dir * (1 - Math.sqrt(a) * k);
        const b = (Math.sqrt(ap) - dir * Math.sqrt(a)) * MU * (1 - Math.sqrt(a) * k);
        return [A, b, std];
      });
      const a0 = ac[s.timesteps[0]!]!;
      runs.push(['DDIM eta=1', d.x, affine(steps, Math.sqrt(a0) * MU, a0 * S * S + 1 - a0)]);
    }
    {
      const n = 60;
      const e = await runEuler(n, SEED + 8, true);
      const s = EulerAncestralDiscreteScheduler.fromConfig(SD15);
      s.setTimesteps(n);
      const g = s.sigmas;
      const steps = Array.from({ length: n }, (_, i): [number, number, number] => {
        const [sg, sn] = [g[i]!, g[i + 1]!];
        const up = Math.sqrt((sn * sn * (sg * sg - sn * sn)) / (sg * sg));
        const down = Math.sqrt(sn * sn - up * up);
        const r = (down - sg) / sg; // y' = y + r(y − x̂₀) + up·z, x̂₀ = μ + post(σ)(y − μ)
        return [1 + r * (1 - post(sg)), -r * MU * (1 - post(sg)), up];
      });
      runs.push(['EulerAncestral', e.x, affine(steps, MU, S * S + g[0]! ** 2)]);
    }
    {
      const n = 30;
      const p = await runDPM(n, SEED + 9, { algorithm_type: 'sde-dpmsolver++', solver_order: 1 });
      const s = DPMSolverMultistepScheduler.fromConfig({
        ...SD15,
        algorithm_type: 'sde-dpmsolver++',
        solver_order: 1,
      });
      s.setTimesteps(n);
      const g = s.sigmas;
      // VP: x' = (σ'_vp/σ_vp) e^{−h} x + α'(1 − e^{−2h}) x̂₀ + σ'_vp √(1 − e^{−2h}) z, λ = −log σ
      const steps = Array.from({ length: n }, (_, i): [number, number, number] => {
        const [sg, sn] = [g[i]!, g[i + 1]!];
        const [a, an] = [1 / Math.hypot(1, sg), 1 / Math.hypot(1, sn)];
        const e2 = sn === 0 ? 1 : 1 - (sn / sg) ** 2;
        const cx = sn === 0 ? 0 : ((sn * an) / (sg * a)) * (sn / sg);
        const k = post(sg) / a; // x̂₀ = μ + post(σ)(x/a − μ)
        return [cx + an * e2 * k, an * e2 * MU * (1 - post(sg)), sn * an * Math.sqrt(e2)];
      });
      const a0 = 1 / Math.hypot(1, g[0]!);
      runs.push(['SDE-DPM++ 1', p.x, affine(steps, a0 * MU, a0 * a0 * (S * S + g[0]! ** 2))]);
    }
    for (const [name, x, want] of runs) {
      const st = stats(await x.data());
      // sampling error of D = 4096 draws: mean ± 6 sd/√D, std ± 6 sd/√(2D) (exact mean and std, no
      // discretisation allowance needed): six two-sided 6σ checks, P ≈ 1.2e-8 per run (5σ gave 3.4e-6)
      expect(
        Math.abs(st.mean - want.mean),
        `${name} mean ${st.mean} vs ${want.mean}, seed ${SEED}`,
      ).toBeLessThan((6 * want.std) / Math.sqrt(D));
      expect(
        Math.abs(st.std - want.std) / want.std,
        `${name} std ${st.std} vs ${want.std}, seed ${SEED}`,
      ).toBeLessThan(6 / Math.sqrt(2 * D));
      x.dispose();
    }
    const p2 = await runDPM(40, SEED + 10, { algorithm_type: 'sde-dpmsolver++' });
    const st = stats(await p2.x.data());
    expect(Math.abs(st.mean - MU)).toBeLessThan(0.05);
    expect(Math.abs(st.std - (S * S) / Math.hypot(S, p2.sigmaLast)) / S).toBeLessThan(0.08);
    p2.x.dispose();
  });

  it('DDPM ancestral sampling (1000 steps) reproduces mean and variance', async () => {
    const s = DDPMScheduler.fromConfig({ ...SD15, clip_sample: false });
    const ac = s.alphasCumprod;
    const sigT = Math.sqrt((1 - ac[999]!) / ac[999]!);
    const y = await yT(B, sigT, SEED + 3);
    let x = B.tensor(
      Float32Array.from(y, (v) => v * Math.sqrt(ac[999]!)),
      [1, 4, 32, 32],
    );
    const gen = { seed: SEED + 4, offset: 0 };
    for (let t = 999; t >= 0; t--) {
      const next = scope(() => s.step(epsModel(x, ac[t]!), t, x, { generator: gen }).prevSample);
      x.dispose();
      x = next;
    }
    const st = stats(await x.data());
    // exact ancestral sampling of N(μ, s²): mean ± 6 s/√D (P ≈ 2e-9; 5 gave 6e-7); std: 0.08 ≈ 7 standard
    // errors 1/√(2D) plus the 1,000-step discretisation
    expect(Math.abs(st.mean - MU), `mean ${st.mean}, seed ${SEED}`).toBeLessThan((6 * S) / Math.sqrt(D));
    expect(Math.abs(st.std - S) / S, `std ${st.std}, seed ${SEED}`).toBeLessThan(0.08);
    x.dispose();
  });

  it('FlowMatchEuler with the exact velocity converges to the flow ODE solution', async () => {
    const errs: number[] = [];
    for (const n of [10, 20, 40]) {
      const s = FlowMatchEulerDiscreteScheduler.fromConfig({ num_train_timesteps: 1000, shift: 3.0 });
      s.setTimesteps(n);
      const sT = s.sigmas[0]!;
      const z = await B.randn([D], { seed: SEED + 5 }).data();
      const var0 = (1 - sT) ** 2 * S * S + sT * sT;
      const x0 = Float64Array.from(z, (v) => (1 - sT) * MU + Math.sqrt(var0) * v);
      let x = B.tensor(Float32Array.from(x0), [D]);
      for (let i = 0; i < n; i++) {
        const sig = s.sigmas[i]!;
        const v = scope(() => {
          const vr = (1 - sig) ** 2 * S * S + sig * sig;
          // v̂ = E[ε|x] − E[x₀|x] = (σ − (1−σ)s²)/vr · (x − (1−σ)μ) − μ
          const c = (sig - (1 - sig) * S * S) / vr;
          return B.binary('add', B.lincomb([c], [x]), -c * (1 - sig) * MU - MU);
        });
        const next = scope(() => s.step(v, s.timesteps[i]!, x).prevSample);
        v.dispose();
        x.dispose();
        x = next;
      }
      // the last step (to σ = 0) returns x − σ v̂ = E[x₀ | x] at the last σ > 0: exact flow, then posterior mean
      const sl = s.sigmas[n - 1]!;
      const vl = (1 - sl) ** 2 * S * S + sl * sl;
      const want = x0.map((v) => {
        const xl = (1 - sl) * MU + (v - (1 - sT) * MU) * Math.sqrt(vl / var0);
        return MU + (((1 - sl) * S * S) / vl) * (xl - (1 - sl) * MU);
      });
      // float64 Euler recursion x ← x + (σ' − σ)·v̂(x, σ)
      const r64 = x0.map((v) => {
        let xx = v;
        for (let i = 0; i < n; i++) {
          const sg = s.sigmas[i]!;
          const vr = (1 - sg) ** 2 * S * S + sg * sg;
          const vel = ((sg - (1 - sg) * S * S) / vr) * (xx - (1 - sg) * MU) - MU;
          xx += (s.sigmas[i + 1]! - sg) * vel;
        }
        return xx;
      });
      expect(await maxErr(x, r64), `flow ${n} vs float64`).toBeLessThan(2e-4);
      errs.push(await maxErr(x, want));
      x.dispose();
    }
    console.log('FlowMatchEuler max error at 10/20/40 steps', errs);
    expect(errs[2]!).toBeLessThan(errs[1]!);
    expect(errs[1]!).toBeLessThan(errs[0]!);
    const order = Math.log2(errs[1]! / errs[2]!);
    expect(order).toBeGreaterThan(0.7);
    expect(order).toBeLessThan(1.5);
  });

  it('a DPM-Solver++ loop does not grow backend memory', async () => {
    const before = B.memory().tensors;
    const { x } = await runDPM(15, SEED, { solver_order: 3 });
    x.dispose();
    expect(B.memory().tensors).toBe(before);
  });
});
