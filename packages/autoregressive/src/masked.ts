import { dispose, philoxWords, scope, type Tensor, TesseraError, tidy, wordToUniform } from '@tessera/core';
import { applyGuidance, checkGuidance, doubleCond, guidanceWeight, sliceCond } from './guidance.js';
import { checkCommon, type DecodeCommon, decodeBackend, decodeSeed, stepControl } from './raster.js';
import { RngStream } from './rng.js';
import { sampleLogits } from './sampling.js';
import type { ContinuousMaskedModel, MaskedTokenModel } from './types.js';

/** Options of {@link maskedDecode}. */
export interface MaskedDecodeOptions extends DecodeCommon {
  /** Number of iterations (model calls). MAR's default is 64; MaskGIT uses 8–12. */
  numIter: number;
  /**
   * Teacher-forced tokens: `tokens` int32 `[B, L]` (or float32 `[B, L, D]` for continuous tokens) and a
   * host-side `mask` (length B·L, non-zero = known). The mask lives on the host because the random
   * orders and mask schedule are computed there (from Philox words), so the loop needs no readback.
   */
  known?: { tokens: Tensor; mask: ArrayLike<number> };
}

/**
 * Per-sample random orders (MAR's `sample_orders`, a shuffle per row), from Philox words: a
 * Fisher–Yates shuffle of each row's unknown positions using one word per position, row b using words
 * `[b·L, (b+1)·L)` of `random`. Known positions are left out. Computed on the host.
 */
export function randomOrders(
  batch: number,
  L: number,
  random: { seed: number; offset: number },
  known?: ArrayLike<number>,
): number[][] {
  const words = philoxWords(random.seed, random.offset, batch * L);
  const orders: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const ord: number[] = [];
    for (let p = 0; p < L; p++) if (!known?.[b * L + p]) ord.push(p);
    for (let i = ord.length - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(wordToUniform(words[b * L + i]!) * (i + 1)));
      const t = ord[i]!;
      ord[i] = ord[j]!;
      ord[j] = t;
    }
    orders.push(ord);
  }
  return orders;
}

/**
 * MAR's `mask_len` before clamping: `⌊L·cos(π/2·(step+1)/numIter)⌋` evaluated in MAR's order of
 * operations (`np.cos(math.pi / 2. * (step + 1) / num_iter)`: the product π/2·(step+1) first, then the
 * division, in float64). Dividing first rounds differently: where (step+1)/numIter = 2/3 (numIter 39,
 * 51, 63, 75, 78, 87, 102, 126, …) MAR's cosine is 0.4999999999999999 and L = 256 floors to 127, not 128.
 */
export function marMaskFloor(L: number, step: number, numIter: number): number {
  return Math.floor(L * Math.cos(((Math.PI / 2) * (step + 1)) / numIter));
}

/**
 * MAR's cosine schedule: the number of tokens still masked after iteration `step` (0-based) of
 * `numIter`, for `L` positions of which `remaining` are masked now:
 * `max(1, min(remaining − 1, ⌊L·cos(π/2·(step+1)/numIter)⌋))` (capped at `remaining`), with the floor
 * as MAR computes it ({@link marMaskFloor}).
 */
export function cosineMaskLen(L: number, step: number, numIter: number, remaining: number): number {
  const len = Math.max(1, Math.min(remaining - 1, marMaskFloor(L, step, numIter)));
  return Math.min(len, remaining);
}

interface Plan {
  /** Host mask per iteration: 1 = still masked before the iteration. */
  masks: Float32Array[];
  /** Host 0/1 positions predicted at each iteration. */
  toPred: Float32Array[];
  /** MAR's linear-cfg progress (L − mask_len)/L per iteration (sample 0's mask_len, as MAR). */
  progress: number[];
}

/** The whole unmasking plan, computed on the host from the orders (no sampled values needed). */
export function maskPlan(batch: number, L: number, numIter: number, orders: number[][]): Plan {
  let mask = new Float32Array(batch * L);
  for (let b = 0; b < batch; b++) for (const p of orders[b]!) mask[b * L + p] = 1;
  const plan: Plan = { masks: [], toPred: [], progress: [] };
  for (let step = 0; step < numIter; step++) {
    const next = new Float32Array(batch * L);
    let len0 = 0;
    for (let b = 0; b < batch; b++) {
      const ord = orders[b]!;
      let remaining = 0;
      for (const p of ord) remaining += mask[b * L + p]!;
      const len = step >= numIter - 1 || remaining === 0 ? 0 : cosineMaskLen(L, step, numIter, remaining);
      for (let i = 0; i < len; i++) next[b * L + ord[i]!] = 1;
      // MAR's mask_len of row 0 (at least 1, also on the last iteration), which its linear cfg uses.
      if (b === 0) len0 = Math.max(1, Math.min(remaining - 1, marMaskFloor(L, step, numIter)));
    }
    const pred = new Float32Array(batch * L);
    for (let i = 0; i < pred.length; i++) pred[i] = mask[i]! && !next[i] ? 1 : 0;
    plan.masks.push(mask);
    plan.toPred.push(pred);
    plan.progress.push((L - len0) / L);
    mask = next;
  }
  return plan;
}

function checkMasked(op: string, o: MaskedDecodeOptions, L: number): void {
  checkCommon(op, o);
  if (!Number.isInteger(o.numIter) || o.numIter < 1)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: numIter must be a positive integer, got ${o.numIter}`);
  if (o.known && o.known.mask.length !== o.batch * L) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: known.mask must have B·L = ${o.batch * L} entries, got ${o.known.mask.length}`,
    );
  }
}

/**
 * Masked / random-order decoding (MaskGIT, MAR `sample_tokens`): every row gets its own random order
 * (Philox), tokens are revealed over `numIter` model calls following the cosine schedule, all positions
 * of an iteration sampled in parallel. `guidance: { scale: cfg, schedule: 'linear' }` is MAR's linear
 * cfg by revealed fraction. Resolves to int32 `[B, L]`. The masks are uploaded per iteration (host data
 * computed ahead from the orders); sampled tokens never leave the device. The loop yields to the event
 * loop by elapsed time and checks `signal` before every iteration.
 */
export async function maskedDecode(model: MaskedTokenModel, o: MaskedDecodeOptions): Promise<Tensor> {
  const op = 'maskedDecode';
  const L = model.seqLen;
  checkMasked(op, o, L);
  const guided = checkGuidance(o.guidance, model.numClasses, op);
  const cutoff = o.guidance?.cutoff ?? Number.POSITIVE_INFINITY;
  const Bk = decodeBackend(o);
  const seed = decodeSeed(o);
  const rng = new RngStream(seed, o.offset ?? 0);
  const ctl = stepControl(op, o.numIter, seed, o, Bk);
  const n = o.batch;
  const orders = randomOrders(n, L, rng.take(n * L), o.known?.mask);
  const plan = maskPlan(n, L, o.numIter, orders);
  const cond2 = guided ? doubleCond(Bk, o.cond, model.numClasses!, n) : undefined;
  let tokens = o.known ? Bk.cast(o.known.tokens, 'int32') : Bk.fill([n, L], 0, 'int32');
  try {
    for (let it = 0; it < o.numIter; it++) {
      await ctl.before(it);
      const doubled = guided && it < cutoff;
      const next = tidy(() => {
        const mask = Bk.tensor(plan.masks[it]!, [n, L], 'float32');
        let logits: Tensor;
        if (doubled) {
          const l2 = model.logits(Bk.concat([tokens, tokens], 0), Bk.concat([mask, mask], 0), cond2);
          logits = applyGuidance(l2, guidanceWeight(o.guidance!, plan.progress[it]!));
        } else {
          logits = model.logits(tokens, mask, guided ? sliceCond(cond2, n) : o.cond);
        }
        const sampled = sampleLogits(logits, o.sampling ?? {}, rng);
        const pred = Bk.tensor(plan.toPred[it]!, [n, L], 'float32');
        return Bk.where(pred, sampled, tokens);
      });
      tokens.dispose();
      tokens = next;
      await ctl.after(it);
    }
  } catch (e) {
    tokens.dispose();
    throw e;
  } finally {
    if (cond2) dispose(cond2);
  }
  return tokens;
}

/**
 * Masked decoding with a continuous-token head (MAR with its diffusion loss): same orders, schedule and
 * guidance as {@link maskedDecode}, but tokens are float vectors `[B, L, D]` drawn by
 * `model.sampleHead` (which receives the doubled z and the iteration's guidance weight, like MAR's
 * `diffloss.sample(z, temperature, cfg_iter)`). Each iteration's head draw starts at a fresh
 * Philox offset: `headWords` words are reserved per iteration (default 2·B·L·D·64).
 */
export async function maskedDecodeContinuous(
  model: ContinuousMaskedModel,
  o: MaskedDecodeOptions & { temperature?: number; headWords?: number },
): Promise<Tensor> {
  const op = 'maskedDecodeContinuous';
  const L = model.seqLen;
  const D = model.tokenDim;
  checkMasked(op, o, L);
  const guided = checkGuidance(o.guidance, model.numClasses, op);
  const cutoff = o.guidance?.cutoff ?? Number.POSITIVE_INFINITY;
  const Bk = decodeBackend(o);
  const seed = decodeSeed(o);
  const rng = new RngStream(seed, o.offset ?? 0);
  const ctl = stepControl(op, o.numIter, seed, o, Bk);
  const n = o.batch;
  const orders = randomOrders(n, L, rng.take(n * L), o.known?.mask);
  const plan = maskPlan(n, L, o.numIter, orders);
  const cond2 = guided ? doubleCond(Bk, o.cond, model.numClasses!, n) : undefined;
  const words = o.headWords ?? 2 * n * L * D * 64;
  let tokens = o.known ? Bk.reshape(o.known.tokens, [n, L, D]) : Bk.fill([n, L, D], 0, 'float32');
  try {
    for (let it = 0; it < o.numIter; it++) {
      await ctl.before(it);
      const doubled = guided && it < cutoff;
      const random = rng.take(words);
      // The head may be async (a diffusion sampler, an ONNX model), and no scope spans an await: the
      // model call and the merge each get their own synchronous scope, and z is freed explicitly.
      const current = tokens;
      const w = doubled ? guidanceWeight(o.guidance!, plan.progress[it]!) : 1;
      const z = tidy(() => {
        const mask = Bk.tensor(plan.masks[it]!, [n, L], 'float32');
        return doubled
          ? model.forward(Bk.concat([current, current], 0), Bk.concat([mask, mask], 0), cond2)
          : model.forward(current, mask, guided ? sliceCond(cond2, n) : o.cond);
      });
      let sampled: Tensor | undefined;
      try {
        // What the head makes synchronously is freed when it settles, except its result.
        const head = { guidanceScale: w, temperature: o.temperature ?? 1, random };
        sampled = await scope(() => model.sampleHead(z, head));
      } finally {
        if (sampled !== z) z.dispose();
      }
      const s = sampled;
      const next = tidy(() => {
        const pred = Bk.tensor(plan.toPred[it]!, [n, L, 1], 'float32');
        return Bk.where(pred, s, current);
      });
      if (s !== current) s.dispose();
      tokens.dispose();
      tokens = next;
      await ctl.after(it);
    }
  } catch (e) {
    tokens.dispose();
    throw e;
  } finally {
    if (cond2) dispose(cond2);
  }
  return tokens;
}
