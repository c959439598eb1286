import {
  type Backend,
  currentBackend,
  dispose,
  pacer,
  type Tensor,
  TesseraError,
  throwIfAborted,
  tidy,
  YIELD_INTERVAL_MS,
} from '@tessera/core';
import {
  applyGuidance,
  checkGuidance,
  doubleCond,
  type GuidanceOptions,
  guidanceWeight,
} from './guidance.js';
import { RngStream } from './rng.js';
import { type SamplingOptions, sampleLogits } from './sampling.js';
import type { Cond, NextTokenModel } from './types.js';

/** Tokens fixed during decoding (inpainting / outpainting): teacher-forced wherever `mask` is non-zero. */
export interface KnownTokens {
  /** int32 `[B, L]` token values (grid order). */
  tokens: Tensor;
  /** `[B, L]` (any dtype), non-zero = known. */
  mask: Tensor;
}

/** Options shared by the decoders. */
export interface DecodeCommon {
  /** Batch size B. */
  batch: number;
  /** Backend to run on; default: that of `cond.labels` / known tokens, else the active backend. */
  backend?: Backend;
  /** Conditioning for the B rows (labels and/or control). */
  cond?: Cond;
  /** Logit processing and sampling. */
  sampling?: SamplingOptions;
  /** Classifier-free guidance (needs `model.numClasses`). */
  guidance?: GuidanceOptions;
  /**
   * Philox seed. Default: a fresh random seed per call (as diffusion's `sample`), read back from
   * {@link DecodeStepInfo.seed}; pass one for reproducible tokens.
   */
  seed?: number;
  /** Starting word offset in the Philox stream of `seed`. Default 0. */
  offset?: number;
  /** Called after every step (e.g. for progress); may be async (it is awaited). */
  callback?: (info: DecodeStepInfo) => void | Promise<void>;
  /** @deprecated Use {@link DecodeCommon.callback}; called after every step with the step index. */
  onStep?: (step: number) => void;
  /**
   * Checked before every step (the loop yields to the event loop every ~25 ms, so an abort fired from
   * a timer is seen); an aborted signal rejects with TesseraError ABORTED.
   */
  signal?: AbortSignal;
}

/** What a decoder's per-step callback sees. */
export interface DecodeStepInfo {
  /** Step index, 0-based (a token for raster decoding, a scale or an iteration otherwise). */
  step: number;
  /** Number of steps. */
  total: number;
  /** The Philox seed the decode uses (the drawn one when none was given). */
  seed: number;
}

/** The seed of a decode: `o.seed`, else a fresh random 32-bit seed (the one default-seed policy). */
export function decodeSeed(o: { seed?: number }): number {
  return o.seed ?? Math.floor(Math.random() * 2 ** 32);
}

/**
 * Per-step run control shared by the decoders: `before(i)` yields to the event loop by elapsed time and
 * throws ABORTED if the signal fired; `after(i)` reports progress.
 */
export function stepControl(op: string, total: number, seed: number, o: DecodeCommon, backend?: Backend) {
  const pace = pacer(YIELD_INTERVAL_MS, backend);
  return {
    async before(i: number): Promise<void> {
      await pace();
      throwIfAborted(o.signal, `${op}: aborted before step ${i + 1} of ${total}`);
    },
    async after(i: number): Promise<void> {
      o.onStep?.(i);
      if (o.callback) await o.callback({ step: i, total, seed });
    },
  };
}

/** Options of {@link rasterDecode}. */
export interface RasterDecodeOptions extends DecodeCommon {
  /** Sequence length L (e.g. H·W). */
  length: number;
  /** Generation order (a permutation of 0..L-1): `order[i]` = grid position of the i-th token. Default row-major. */
  order?: readonly number[];
  /** Teacher-forced tokens (inpainting). */
  known?: KnownTokens;
}

/** Per-decode bookkeeping shared with the other decoders. */
export function checkCommon(op: string, o: DecodeCommon): void {
  if (!Number.isInteger(o.batch) || o.batch < 1)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: batch must be a positive integer, got ${o.batch}`);
  if (o.cond?.labels && (o.cond.labels.rank !== 1 || o.cond.labels.shape[0] !== o.batch)) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: cond.labels must be [${o.batch}], got [${o.cond.labels.shape.join(', ')}]`,
    );
  }
}

/** Throws unless known tokens and mask have `shape`. */
export function checkKnown(op: string, k: KnownTokens, shape: readonly number[]): void {
  for (const [name, t] of [
    ['tokens', k.tokens],
    ['mask', k.mask],
  ] as const) {
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: known.${name} must be [${shape.join(', ')}], got [${t.shape.join(', ')}]`,
      );
    }
  }
}

function checkOrder(order: readonly number[], L: number): void {
  const seen = new Uint8Array(L);
  if (order.length !== L)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `rasterDecode: order must have ${L} entries, got ${order.length}`,
    );
  for (const p of order) {
    if (!Number.isInteger(p) || p < 0 || p >= L || seen[p])
      throw new TesseraError('INVALID_ARGUMENT', `rasterDecode: order is not a permutation of 0..${L - 1}`);
    seen[p] = 1;
  }
}

/** Writes column `pos` of `buf` `[B, L]` with `col` `[B]` (a static output buffer). */
export function writeColumn(B: Backend, buf: Tensor, positions: Tensor, pos: number, col: Tensor): Tensor {
  return tidy(() => B.where(B.binary('eq', positions, pos), B.reshape(col, [col.shape[0]!, 1]), buf));
}

/** Replaces `tok` `[B]` by the known token at grid position `pos` where known. */
function forceKnown(B: Backend, tok: Tensor, known: KnownTokens, pos: number): Tensor {
  const n = tok.shape[0]!;
  return tidy(() => {
    const m = B.reshape(B.slice(known.mask, [0, pos], [n, 1]), [n]);
    const v = B.reshape(B.slice(known.tokens, [0, pos], [n, 1]), [n]);
    return B.where(m, v, tok);
  });
}

/**
 * Token-by-token decoding (VQGAN transformer, LlamaGen, PixelCNN): one prefill, then one `step` per
 * token, L model calls in all. Resolves to int32 `[B, L]` in grid order (the caller owns it). No host
 * readback: sampled tokens stay on the device and are written into a static output buffer. The loop
 * yields to the event loop by elapsed time, so runs interleave and an abort from a timer is seen.
 *
 * @example
 * const tokens = await rasterDecode(model, { batch: 4, length: 256, sampling: { topK: 50 }, seed: 1 });
 */
export async function rasterDecode<S>(model: NextTokenModel<S>, o: RasterDecodeOptions): Promise<Tensor> {
  const op = 'rasterDecode';
  checkCommon(op, o);
  const L = o.length;
  if (!Number.isInteger(L) || L < 1)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: length must be a positive integer, got ${L}`);
  if (o.order) checkOrder(o.order, L);
  if (o.known) checkKnown(op, o.known, [o.batch, L]);
  const guided = checkGuidance(o.guidance, model.numClasses, op);
  const cutoff = o.guidance?.cutoff ?? Number.POSITIVE_INFINITY;
  if (guided && cutoff < L && !model.sliceState) {
    throw new TesseraError(
      'UNSUPPORTED',
      `${op}: guidance.cutoff needs a model with sliceState() to halve the batch`,
    );
  }
  const Bk = decodeBackend(o);
  const seed = decodeSeed(o);
  const rng = new RngStream(seed, o.offset ?? 0);
  const ctl = stepControl(op, L, seed, o, Bk);
  const n = o.batch;
  const sampling = o.sampling ?? {};
  const posOf = (i: number) => (o.order ? o.order[i]! : i);

  let doubled = guided && cutoff > 0;
  const cond = doubled ? doubleCond(Bk, o.cond, model.numClasses!, n) : o.cond;
  let { logits, state } = model.prefill(null, { batch: doubled ? 2 * n : n, cond, order: o.order });
  const positions = tidy(() => Bk.reshape(Bk.arange(0, L, 1, 'int32'), [1, L]));
  let out = Bk.fill([n, L], 0, 'int32');
  try {
    for (let i = 0; i < L; i++) {
      await ctl.before(i);
      const tok = tidy(() => {
        const g = doubled
          ? applyGuidance(logits, guidanceWeight(o.guidance!, L > 1 ? i / (L - 1) : 1))
          : logits;
        let t = sampleLogits(g, sampling, rng);
        if (o.known) t = forceKnown(Bk, t, o.known, posOf(i));
        return t;
      });
      logits.dispose();
      logits = undefined!;
      const next = writeColumn(Bk, out, positions, posOf(i), tok);
      out.dispose();
      out = next;
      if (i < L - 1) {
        if (doubled && i + 1 >= cutoff) {
          // Guidance ends: really halve the batch (keep the conditional rows of the cache).
          state = model.sliceState!(state, 0, n);
          doubled = false;
        }
        const feed = doubled ? tidy(() => Bk.concat([tok, tok], 0)) : tok;
        ({ logits, state } = model.step(feed, state));
        if (feed !== tok) feed.dispose();
      }
      tok.dispose();
      await ctl.after(i);
    }
  } catch (e) {
    dispose(out, logits);
    throw e;
  } finally {
    model.disposeState?.(state);
    positions.dispose();
    if (cond !== o.cond) dispose(cond);
  }
  return out;
}

/** The backend a decoder runs on: `o.backend`, else that of the labels or known tokens, else the active one. */
export function decodeBackend(o: DecodeCommon & { known?: { tokens: Tensor } }): Backend {
  return o.backend ?? o.cond?.labels?.backend ?? o.known?.tokens.backend ?? currentBackend();
}
