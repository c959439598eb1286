// ParaTAA (Tang et al. 2024): the trajectory as a triangular nonlinear system solved with triangular
// Anderson acceleration over a sliding window.
import { check, type Tensor } from '@tessera/core';
import { firstFailing, Run } from './engine.js';
import { solveRegularized } from './linalg.js';
import type { ParallelResult, ParaTAAOptions, SchedulerParaTAAOptions } from './types.js';

interface Iterate {
  x: Tensor;
  R: Tensor;
}

/**
 * Solves the sampler's trajectory with ParaTAA (Tang et al. 2024, "Accelerating Parallel Sampling of
 * Diffusion Models"). With Fᵢ the sampler's step and rⱼ = F_{j−1}(x_{j−1}) − xⱼ the one-step residual,
 * step j's order-k residual is Rⱼ = Σ of its last k one-step residuals within the window (the k-step
 * equation with the denoiser outputs frozen at the current iterate). Triangular Anderson acceleration
 * then updates every unconverged step as xⱼ ← xⱼ + Rⱼ − Σₗ γⱼₗ(ΔXⱼₗ + ΔRⱼₗ), where ΔX, ΔR are the
 * differences of step j's last `memory` iterates and γⱼ solves (Bⱼ + λI)γⱼ = dⱼ per image, with
 * Bⱼ = Σ_{j' ≤ j} ΔR_{j'}ᵀΔR_{j'}/(D·(1+σ_{j'}²)) and dⱼ = Σ_{j' ≤ j} ΔR_{j'}ᵀR_{j'}/(D·(1+σ_{j'}²))
 * summed over the window's steps up to j (the triangular structure: step j depends only on earlier
 * steps; the 1/(1+σ²) weights are upstream's variance-preserving frame). The Gram entries are dot
 * products on the device, accumulated and solved in float64 on the host.
 *
 * Steps before the first one whose scaled residual ‖rⱼ‖²/(D·σ_t²) exceeds tol² (or whose RMS exceeds
 * atol) are final as they are; that step is set to the exact step from its final input (so the
 * window's first step is always the sequential one, window 1 is the sequential sampler and the window
 * advances every round) and the window slides there. `winit` starts from an earlier
 * trajectory (for instance a nearby seed's or prompt's) instead of copies of x.
 *
 * Host readback: one per round, holding the per-step residual norms and the small Gram entries.
 *
 * @example
 * const run = await parataa({ denoiser, x, sigmas, sampler: 'ddim', seed: 1, window: 100, tol: 0.01 });
 * run.x.dispose();
 */
export async function parataa(options: ParaTAAOptions | SchedulerParaTAAOptions): Promise<ParallelResult> {
  const memory = options.memory ?? 4;
  const lambda = options.lambda ?? 1e-2;
  check(
    Number.isInteger(memory) && memory >= 1 && memory <= 16,
    'INVALID_ARGUMENT',
    `parataa: memory must be an integer in [1, 16], got ${memory}`,
  );
  check(
    Number.isFinite(lambda) && lambda >= 0,
    'INVALID_ARGUMENT',
    `parataa: lambda must be finite and ≥ 0, got ${lambda}`,
  );
  const order = options.order ?? Number.MAX_SAFE_INTEGER;
  check(
    Number.isInteger(order) && order >= 1,
    'INVALID_ARGUMENT',
    `parataa: order must be an integer ≥ 1, got ${order}`,
  );
  const run = new Run('parataa', options, 1e-3, 1e-3, 100);
  const winit = options.winit;
  const count = run.steps + 1;
  try {
    check(
      winit === undefined || (Array.isArray(winit) && winit.length <= count),
      'INVALID_ARGUMENT',
      () =>
        `parataa: winit must be an array of at most one tensor per σ (${count}), got ${Array.isArray(winit) ? `${winit.length} tensors` : typeof winit}`,
    );
  } catch (e) {
    run.close();
    throw e;
  }
  const { B, traj, n, dim } = run;
  const hist = new Map<number, Iterate[]>();
  const dropHist = (j: number) => {
    for (const it of hist.get(j) ?? []) {
      it.x.dispose();
      it.R.dispose();
    }
    hist.delete(j);
  };
  let begin = 0;
  try {
    while (begin < run.steps && run.rounds < run.maxRounds) {
      await run.breathe();
      run.checkAbort('parataa');
      const end = Math.min(begin + run.window, run.steps);
      run.fill(end, winit);
      const m = end - begin;
      const F = await run.evaluate(begin, traj.slice(begin, end) as Tensor[]);
      const temps: Tensor[] = [];
      const t = <T extends Tensor>(x: T): T => {
        temps.push(x);
        return x;
      };
      try {
        // one-step and order-k residuals of outputs j = begin + 1 + k
        const r = F.map((f, k) => t(B.lincomb([1, -1], [f, traj[begin + 1 + k]!])));
        // running sums: R_k = R_{k−1} + r_k (− r_{k−order} once the order truncates), one small
        // lincomb per step instead of k terms
        const R: Tensor[] = [];
        for (let k = 0; k < r.length; k++) {
          if (k === 0) R.push(B.lincomb([1], [r[0]!]));
          else if (k < order) R.push(B.lincomb([1, 1], [R[k - 1]!, r[k]!]));
          else R.push(B.lincomb([1, 1, -1], [R[k - 1]!, r[k]!, r[k - order]!]));
        }
        // push the current iterate into each step's memory; differences, newest first
        const Q = memory - 1;
        const dX: Tensor[][] = [];
        const dR: Tensor[][] = [];
        for (let k = 0; k < m; k++) {
          const j = begin + 1 + k;
          const h = hist.get(j) ?? [];
          h.push({ x: B.lincomb([1], [traj[j]!]), R: R[k]! });
          while (h.length > memory) {
            const old = h.shift()!;
            old.x.dispose();
            old.R.dispose();
          }
          hist.set(j, h);
          const xs: Tensor[] = [];
          const rs: Tensor[] = [];
          for (let l = 0; l < h.length - 1; l++) {
            const a = h[h.length - 1 - l]!;
            const b = h[h.length - 2 - l]!;
            xs.push(t(B.lincomb([1, -1], [a.x, b.x])));
            rs.push(t(B.lincomb([1, -1], [a.R, b.R])));
          }
          dX.push(xs);
          dR.push(rs);
        }
        // Gram entries ⟨u, v⟩ per step and image over [ΔR₀ … ΔR_{Q−1}, R] (zeros for missing slots)
        let gram: Tensor | undefined;
        if (Q > 0 && dR.some((v) => v.length > 0)) {
          const rows = dR.map((slots, k) => {
            const parts = [...slots, R[k]!];
            while (parts.length < Q + 1) parts.splice(slots.length, 0, t(B.fill(R[k]!.shape, 0)));
            return t(
              B.concat(
                parts.map((p) => t(B.reshape(p, [n, 1, dim]))),
                1,
              ),
            );
          });
          const M = t(rows.length === 1 ? rows[0]! : B.concat(rows, 0)); // [m·n, Q+1, D]
          gram = t(B.matmul(M, M, { transposeB: true })); // [m·n, Q+1, Q+1]
        }
        const { norms, extra } = await run.sumsq(r, gram);
        const ratio = run.ratios(begin, norms, m);
        const f = firstFailing(ratio);
        // outputs before the first failing one pass as they are; that one gets the exact step from its
        // final input. A one-step window's output is exact too when it passed (window 1 is then the
        // sequential loop); in a wider window the later steps were checked against a passing step's old
        // value, so it stays: a converged trajectory remains a fixed point (winit).
        const last = Math.min(f, m - 1);
        if (f < m || m === 1) {
          const j = begin + 1 + last;
          traj[j]!.dispose();
          traj[j] = B.lincomb([1], [F[last]!]);
        }
        // the rest: triangular Anderson updates, γ per step and image from prefix sums of the Gram
        const W = Q + 1;
        const prefix = new Float64Array(n * W * W);
        for (let k = 0; k < m; k++) {
          if (extra) {
            const c = run.vpFactor(begin + 1 + k) / dim;
            for (let b = 0; b < n; b++) {
              const o = (k * n + b) * W * W;
              for (let e = 0; e < W * W; e++) prefix[b * W * W + e]! += extra[o + e]! * c;
            }
          }
          if (k <= last) continue;
          const j = begin + 1 + k;
          const q = dR[k]!.length;
          let next: Tensor;
          if (q === 0 || !extra) next = B.lincomb([1, 1], [traj[j]!, R[k]!]);
          else {
            const gam = Array.from({ length: n }, (_, b) => {
              const base = b * W * W;
              const A = new Float64Array(q * q);
              const rhs = new Float64Array(q);
              for (let u = 0; u < q; u++) {
                for (let v = 0; v < q; v++) A[u * q + v] = prefix[base + u * W + v]!;
                rhs[u] = prefix[base + u * W + Q]!;
              }
              return solveRegularized(A, rhs, q, lambda);
            });
            if (n === 1) {
              const coefs = [1, 1];
              const xs = [traj[j]!, R[k]!];
              for (let l = 0; l < q; l++) {
                coefs.push(-gam[0]![l]!, -gam[0]![l]!);
                xs.push(dX[k]![l]!, dR[k]![l]!);
              }
              next = B.lincomb(coefs, xs);
            } else {
              const rowShape = [n, ...traj[j]!.shape.slice(1).map(() => 1)];
              let corr: Tensor | undefined;
              for (let l = 0; l < q; l++) {
                const s = t(B.lincomb([1, 1], [dX[k]![l]!, dR[k]![l]!]));
                const g = t(
                  B.tensor(
                    Float32Array.from(gam, (v) => v[l]!),
                    rowShape,
                  ),
                );
                const term = t(B.binary('mul', s, g));
                corr = corr ? t(B.lincomb([1, 1], [corr, term])) : term;
              }
              next = B.lincomb([1, 1, -1], [traj[j]!, R[k]!, corr!]);
            }
          }
          traj[j]!.dispose();
          traj[j] = next;
        }
        const nextBegin = f >= m ? end : begin + 1 + f;
        await run.report({
          begin,
          end,
          done: nextBegin,
          residual: Math.sqrt(Math.max(...ratio)),
        });
        for (let j = begin + 1; j <= nextBegin; j++) dropHist(j);
        begin = nextBegin;
        run.release(begin);
        run.keepHistory(begin);
      } finally {
        for (const x of [...F, ...temps]) if (!x.isDisposed) x.dispose();
      }
    }
    return run.finish(begin >= run.steps);
  } catch (e) {
    run.close();
    throw e;
  } finally {
    for (const j of [...hist.keys()]) dropHist(j);
  }
}
