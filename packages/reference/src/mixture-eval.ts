/**
 * Evaluates the exact posterior mean of a canonical Gaussian mixture with backend ops, as matrix
 * products over `[N, d]` rows (no `[K, N, d]` intermediates): the σ-dependent factors are computed in
 * float64 on the host from σ alone (one row of factors, or one per data row) and uploaded as small
 * tensors; the data never come back to the host.
 *
 * With x' = x − m (m: the centre of the component means), r_k = x' − μ'_k, p_k = V_kᵀ r_k:
 *   spectral  Σ_k = V diag(λ) Vᵀ + s(I − VVᵀ):  c = 1/(s+σ²), e_j = 1/(λ_j+σ²) − c,
 *             log N = −½(c‖r‖² + Σ_j e_j p_j² + log det) + const,  σ²(Σ+σ²I)⁻¹ r = σ²c r + V(σ²e ⊙ p)
 *   diagonal  Σ_k = diag(v):  log N = −½ Σ_j r_j²/(v_j+σ²) + …,   σ²(Σ+σ²I)⁻¹ r = σ² r/(v+σ²)
 * and D(x, σ) = x − Σ_k ρ_k σ²(Σ_k+σ²I)⁻¹ r_k with ρ = softmax_k(log w_k + log N_k).
 */
import type { Backend, Tensor } from '@tessera/core';
import type { CanonicalComponent, CanonicalMixture } from './spec.js';

type Spectral = Extract<CanonicalComponent, { kind: 'spectral' }>;
type Diag = Extract<CanonicalComponent, { kind: 'diag' }>;

/** Host-side constants of one mixture, shared by every backend. */
export interface MixturePlan {
  d: number;
  centre: Float64Array;
  s:
    | {
        comps: Spectral[];
        logw: number[];
        R: number;
        cmu: Float64Array;
        mu2: Float64Array;
        lam: Float64Array;
      }
    | undefined;
  g: { comps: Diag[]; logw: number[]; mp: Float64Array } | undefined;
}

/**
 * Splits a canonical mixture into its spectral and diagonal groups, centres the means, pads the spectral
 * bases to one rank R (zero columns with λ = s, which contribute nothing) and precomputes V_kᵀμ'_k and
 * ‖μ'_k‖². Exporters (e.g. an ONNX writer) can rebuild {@link evaluatePlan}'s graph from it.
 */
export function planMixture(model: CanonicalMixture): MixturePlan {
  const d = model.dim;
  const centre = new Float64Array(d);
  for (const c of model.components)
    for (let i = 0; i < d; i++) centre[i]! += c.mean[i]! / model.components.length;
  const spectral: Spectral[] = [];
  const sw: number[] = [];
  const diag: Diag[] = [];
  const dw: number[] = [];
  model.components.forEach((c, k) => {
    if (c.kind === 'spectral') {
      spectral.push(c);
      sw.push(Math.log(model.weights[k]!));
    } else {
      diag.push(c);
      dw.push(Math.log(model.weights[k]!));
    }
  });
  let s: MixturePlan['s'];
  if (spectral.length) {
    const K = spectral.length;
    const R = Math.max(1, ...spectral.map((c) => c.rank));
    const cmu = new Float64Array(K * R);
    const mu2 = new Float64Array(K);
    const lam = new Float64Array(K * R);
    spectral.forEach((c, k) => {
      for (let i = 0; i < d; i++) mu2[k]! += (c.mean[i]! - centre[i]!) ** 2;
      for (let j = 0; j < R; j++) {
        lam[k * R + j] = j < c.rank ? c.eigenvalues[j]! : c.residual;
        if (j >= c.rank) continue;
        let p = 0;
        for (let i = 0; i < d; i++) p += c.basis[i * c.rank + j]! * (c.mean[i]! - centre[i]!);
        cmu[k * R + j] = p;
      }
    });
    s = { comps: spectral, logw: sw, R, cmu, mu2, lam };
  }
  let g: MixturePlan['g'];
  if (diag.length) {
    const mp = new Float64Array(diag.length * d);
    diag.forEach((c, k) => {
      for (let i = 0; i < d; i++) mp[k * d + i] = c.mean[i]! - centre[i]!;
    });
    g = { comps: diag, logw: dw, mp };
  }
  return { d, centre, s, g };
}

/** Parameters of a plan uploaded to one backend. */
export function uploadPlan(B: Backend, p: MixturePlan): Record<string, Tensor> {
  const { d } = p;
  const t: Record<string, Tensor> = { centre: B.tensor(Float32Array.from(p.centre), [1, d]) };
  if (p.s) {
    const { comps, R } = p.s;
    const K = comps.length;
    const mp = new Float32Array(K * d);
    const V = new Float32Array(d * K * R);
    comps.forEach((c, k) => {
      for (let i = 0; i < d; i++) {
        mp[k * d + i] = c.mean[i]! - p.centre[i]!;
        for (let j = 0; j < c.rank; j++) V[i * K * R + k * R + j] = c.basis[i * c.rank + j]!;
      }
    });
    t.sMp = B.tensor(mp, [K, d]);
    t.sV = B.tensor(V, [d, K * R]);
    t.sCmu = B.tensor(Float32Array.from(p.s.cmu), [1, K * R]);
  }
  if (p.g) t.gMp = B.tensor(Float32Array.from(p.g.mp), [p.g.comps.length, d]);
  return t;
}

/**
 * x0 estimate for `x` viewed as `[n, d]`, σ² given per factor row (`s2.length` is 1 or n). Creates
 * intermediates freely: call inside a scope.
 */
export function evaluatePlan(
  B: Backend,
  p: MixturePlan,
  t: Record<string, Tensor>,
  x2: Tensor,
  n: number,
  s2: ArrayLike<number>,
): Tensor {
  const { d } = p;
  const S = s2.length;
  const xc = B.binary('sub', x2, t.centre!);
  const logits: Tensor[] = [];
  let spectralCorr: ((rho: Tensor) => Tensor) | undefined;
  let diagCorr: ((rho: Tensor) => Tensor) | undefined;
  if (p.s) {
    const { comps, R, mu2, lam, logw } = p.s;
    const K = comps.length;
    const c = new Float32Array(S * K);
    const e = new Float32Array(S * K * R);
    const cst = new Float32Array(S * K);
    const alpha = new Float32Array(S * K);
    const beta = new Float32Array(S * K * R);
    for (let r = 0; r < S; r++) {
      const v = s2[r]!;
      comps.forEach((comp, k) => {
        const ck = 1 / (comp.residual + v);
        let logDet = (d - R) * Math.log(comp.residual + v);
        for (let j = 0; j < R; j++) {
          const lv = lam[k * R + j]! + v;
          logDet += Math.log(lv);
          const ej = 1 / lv - ck;
          e[(r * K + k) * R + j] = -0.5 * ej;
          beta[(r * K + k) * R + j] = v * ej;
        }
        c[r * K + k] = ck;
        alpha[r * K + k] = v * ck;
        cst[r * K + k] = logw[k]! - 0.5 * logDet - 0.5 * ck * mu2[k]!;
      });
    }
    const cT = B.tensor(c, [S, K]);
    const P = B.binary('sub', B.matmul(xc, t.sV!), t.sCmu!); // [n, K·R]
    const A = B.binary(
      'sub',
      B.matmul(xc, t.sMp!, { transposeB: true }),
      B.binary('mul', B.reduce('sumsq', xc, 1, true), 0.5),
    ); // x'·μ' − ½‖x'‖²
    const eq = B.reduce(
      'sum',
      B.reshape(B.binary('mul', B.unary('square', P), B.tensor(e, [S, K * R])), [n, K, R]),
      2,
    );
    logits.push(B.binary('add', B.binary('add', B.tensor(cst, [S, K]), B.binary('mul', cT, A)), eq));
    spectralCorr = (rho) => {
      const ra = B.binary('mul', rho, B.tensor(alpha, [S, K])); // [n, K]
      const G = B.binary(
        'mul',
        B.reshape(rho, [n, K, 1]),
        B.reshape(B.binary('mul', P, B.tensor(beta, [S, K * R])), [n, K, R]),
      );
      const back = B.matmul(B.reshape(G, [n, K * R]), t.sV!, { transposeB: true });
      return B.binary(
        'add',
        B.binary('sub', B.binary('mul', B.reduce('sum', ra, 1, true), xc), B.matmul(ra, t.sMp!)),
        back,
      );
    };
  }
  if (p.g) {
    const { comps, mp, logw } = p.g;
    const K = comps.length;
    const inv = new Float32Array(S * K * d);
    const minv = new Float32Array(S * K * d);
    const sinv = new Float32Array(S * K * d);
    const sminv = new Float32Array(S * K * d);
    const cst = new Float32Array(S * K);
    for (let r = 0; r < S; r++) {
      const v = s2[r]!;
      comps.forEach((comp, k) => {
        let logDet = 0;
        let mm = 0;
        for (let i = 0; i < d; i++) {
          const o = (r * K + k) * d + i;
          const vv = comp.variances[i]! + v;
          const iv = 1 / vv;
          logDet += Math.log(vv);
          mm += mp[k * d + i]! ** 2 * iv;
          inv[o] = -0.5 * iv;
          minv[o] = mp[k * d + i]! * iv;
          sinv[o] = v * iv;
          sminv[o] = v * mp[k * d + i]! * iv;
        }
        cst[r * K + k] = logw[k]! - 0.5 * logDet - 0.5 * mm;
      });
    }
    // per-row factors: batched [n,1,d] × [n,K,d]ᵀ; shared factors: one [n,d] × [K,d]ᵀ
    const shape = S === 1 ? [K, d] : [S, K, d];
    const lhs = (a: Tensor) => (S === 1 ? a : B.reshape(a, [n, 1, d]));
    const flat = (a: Tensor, w: number) => (S === 1 ? a : B.reshape(a, [n, w]));
    const quad = B.binary(
      'add',
      flat(B.matmul(lhs(B.unary('square', xc)), B.tensor(inv, shape), { transposeB: true }), K),
      flat(B.matmul(lhs(xc), B.tensor(minv, shape), { transposeB: true }), K),
    );
    logits.push(B.binary('add', B.tensor(cst, [S, K]), quad));
    diagCorr = (rho) => {
      const r3 = S === 1 ? rho : B.reshape(rho, [n, 1, K]);
      const scale = flat(B.matmul(r3, B.tensor(sinv, shape)), d);
      return B.binary('sub', B.binary('mul', scale, xc), flat(B.matmul(r3, B.tensor(sminv, shape)), d));
    };
  }
  const Ks = p.s?.comps.length ?? 0;
  const Kd = p.g?.comps.length ?? 0;
  const rho =
    Ks + Kd === 1 ? B.fill([n, 1], 1) : B.softmax(logits.length > 1 ? B.concat(logits, 1) : logits[0]!, 1);
  const parts: Tensor[] = [];
  if (spectralCorr) parts.push(spectralCorr(Kd ? B.slice(rho, [0, 0], [n, Ks]) : rho));
  if (diagCorr) parts.push(diagCorr(Ks ? B.slice(rho, [0, Ks], [n, Kd]) : rho));
  const corr = parts.length > 1 ? B.binary('add', parts[0]!, parts[1]!) : parts[0]!;
  return B.binary('sub', x2, corr);
}
