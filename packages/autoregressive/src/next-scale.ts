import { dispose, type Tensor, TesseraError, tidy } from '@tessera/core';
import { applyGuidance, checkGuidance, doubleCond, guidanceWeight } from './guidance.js';
import {
  checkCommon,
  checkKnown,
  type DecodeCommon,
  decodeBackend,
  decodeSeed,
  type KnownTokens,
  stepControl,
} from './raster.js';
import { RngStream } from './rng.js';
import { gumbelSoftmax, sampleLogits, varGumbelTau } from './sampling.js';
import type { NextScaleModel, ScaleInput } from './types.js';

/** Options of {@link nextScaleDecode}. */
export interface NextScaleDecodeOptions extends DecodeCommon {
  /**
   * VAR's `more_smooth`: also draw Gumbel-softmax probabilities of `logits·(1 + ratio)` at temperature
   * {@link varGumbelTau}(ratio) and hand them to the model as `prev.probs` (visualisation only in VAR).
   */
  moreSmooth?: boolean;
  /** Teacher-forced tokens per scale (`known[k]` is `[B, p_k²]`), e.g. for inpainting; entries may be undefined. */
  known?: ReadonlyArray<KnownTokens | undefined>;
}

/**
 * Next-scale decoding (VAR `autoregressive_infer_cfg`): for each scale k, one model call gives the
 * logits of all `p_k²` tokens, which are sampled in parallel — K model calls in all (10 for VAR's
 * `1,2,3,4,5,6,8,10,13,16` versus 256 for raster decoding of a 16×16 grid). With
 * `guidance: { scale: 1 + cfg, schedule: 'linear' }` the weight ramps as VAR's `t = cfg·k/(K−1)`.
 * Resolves to one int32 `[B, p_k²]` tensor per scale (the caller owns them). No host readback; the loop
 * yields to the event loop by elapsed time and checks `signal` before every scale.
 */
export async function nextScaleDecode<S>(
  model: NextScaleModel<S>,
  o: NextScaleDecodeOptions,
): Promise<Tensor[]> {
  const op = 'nextScaleDecode';
  checkCommon(op, o);
  const pn = model.patchNums;
  const K = pn.length;
  if (K < 1) throw new TesseraError('INVALID_ARGUMENT', `${op}: model.patchNums is empty`);
  if (o.known && o.known.length > K)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: known has ${o.known.length} scales, model has ${K}`);
  o.known?.forEach((k, i) => {
    if (k) checkKnown(op, k, [o.batch, pn[i]! ** 2]);
  });
  const guided = checkGuidance(o.guidance, model.numClasses, op);
  const cutoff = o.guidance?.cutoff ?? Number.POSITIVE_INFINITY;
  if (guided && cutoff < K && !model.sliceState) {
    throw new TesseraError(
      'UNSUPPORTED',
      `${op}: guidance.cutoff needs a model with sliceState() to halve the batch`,
    );
  }
  const Bk = decodeBackend({ ...o, known: o.known?.find((k) => k) });
  const seed = decodeSeed(o);
  const rng = new RngStream(seed, o.offset ?? 0);
  const ctl = stepControl(op, K, seed, o, Bk);
  const n = o.batch;
  const sampling = o.sampling ?? {};
  let doubled = guided && cutoff > 0;
  const cond = doubled ? doubleCond(Bk, o.cond, model.numClasses!, n) : o.cond;
  let { logits, state } = model.begin({ batch: doubled ? 2 * n : n, cond });
  const out: Tensor[] = [];
  try {
    for (let k = 0; k < K; k++) {
      await ctl.before(k);
      const ratio = K > 1 ? k / (K - 1) : 1;
      const step = tidy(() => {
        const g = doubled ? applyGuidance(logits, guidanceWeight(o.guidance!, ratio)) : logits;
        let tok = sampleLogits(g, sampling, rng);
        const kn = o.known?.[k];
        if (kn) tok = Bk.where(kn.mask, kn.tokens, tok);
        const probs = o.moreSmooth
          ? gumbelSoftmax(Bk.binary('mul', g, 1 + ratio), varGumbelTau(ratio), rng)
          : undefined;
        return probs ? { tok, probs } : { tok };
      });
      logits.dispose();
      out.push(step.tok);
      logits = undefined!;
      if (k < K - 1) {
        if (doubled && k + 1 >= cutoff) {
          // Guidance ends: really halve the batch.
          state = model.sliceState!(state, 0, n);
          doubled = false;
        }
        const prev: ScaleInput = tidy(() => {
          if (!doubled) return step.probs ? { tokens: step.tok, probs: step.probs } : { tokens: step.tok };
          const p: ScaleInput = { tokens: Bk.concat([step.tok, step.tok], 0) };
          if (step.probs) p.probs = Bk.concat([step.probs, step.probs], 0);
          return p;
        });
        ({ logits, state } = model.next(k + 1, prev, state));
        if (prev.tokens !== step.tok) prev.tokens.dispose();
        if (prev.probs) prev.probs.dispose();
      }
      step.probs?.dispose();
      await ctl.after(k);
    }
  } catch (e) {
    dispose(out, logits);
    throw e;
  } finally {
    model.disposeState?.(state);
    if (cond !== o.cond) dispose(cond);
  }
  return out;
}
