import type { GraphBuilder } from '../graph.js';

/** Graph builders for softmax and the logit filters / categorical sampler (last axis). */

const NEG_INF = Number.NEGATIVE_INFINITY;

/** Softmax along `axis`; a row of −∞ gives zeros (as on the CPU backend), not NaN. */
export function softmax(g: GraphBuilder, x: string, axis: number): string {
  const m = g.op('ReduceMax', [x, g.i64([axis])], { keepdims: 1 });
  return g.op('Where', [g.op('Equal', [m, g.f(NEG_INF)]), g.f(0), g.op('Softmax', [x], { axis })]);
}

/** Inputs: logits, k (int64 [1]). Keeps values ≥ the k-th largest. */
export function topK(g: GraphBuilder): void {
  const x = g.input('float');
  const k = g.input('int64', [1]);
  const [vals] = g.opN('TopK', [x, k], 2, { axis: -1, largest: 1, sorted: 1 });
  const kth = g.op('Slice', [vals!, g.i64([-1]), g.i64([2 ** 31 - 1]), g.i64([-1])]);
  g.output(g.op('Where', [g.op('GreaterOrEqual', [x, kth]), x, g.f(NEG_INF)]), 'float');
}

/** Inputs: logits, row length (int64 [1]), p (float scalar). Nucleus filter. */
export function topP(g: GraphBuilder): void {
  const x = g.input('float');
  const len = g.input('int64', [1]);
  const p = g.input('float', []);
  // sort descending (ties: lower index first, as ONNX TopK specifies)
  const [vals, idx] = g.opN('TopK', [x, len], 2, { axis: -1, largest: 1, sorted: 1 });
  const probs = softmax(g, vals!, -1);
  const before = g.op('CumSum', [probs, g.i64([-1], true)], { exclusive: 1 });
  const drop = g.op('And', [g.op('GreaterOrEqual', [before, p]), g.op('Greater', [before, g.f(0)])]);
  const keepSorted = g.cast(g.op('Not', [drop]), 'float');
  const zeros = g.op('ConstantOfShape', [g.op('Shape', [x])], {
    value: { tensor: { elem: 'float', dims: [1], data: [0] } },
  });
  const keep = g.op('ScatterElements', [zeros, idx!, keepSorted], { axis: -1 });
  g.output(g.op('Where', [g.op('Greater', [keep, g.f(0.5)]), x, g.f(NEG_INF)]), 'float');
}

/** Inputs: logits, log p (float scalar). Keeps tokens with probability ≥ p·max. */
export function minP(g: GraphBuilder): void {
  const x = g.input('float');
  const logp = g.input('float', []);
  const cut = g.op('Add', [g.op('ReduceMax', [x, g.i64([-1])], { keepdims: 1 }), logp]);
  g.output(g.op('Where', [g.op('GreaterOrEqual', [x, cut]), x, g.f(NEG_INF)]), 'float');
}

/**
 * Inputs: logits [..., V], u [..., 1] (Philox uniforms). Picks the first index whose cumulative
 * probability exceeds u·total among tokens of non-zero probability; else the last such token; else 0.
 */
export function sampleCategorical(g: GraphBuilder): void {
  const x = g.input('float');
  const u = g.input('float');
  const probs = softmax(g, x, -1);
  const last = g.i64([-1]);
  const cum = g.op('CumSum', [probs, g.i64([-1], true)]);
  const target = g.op('Mul', [u, g.op('ReduceSum', [probs, last], { keepdims: 1 })]);
  const pos = g.op('Greater', [probs, g.f(0)]);
  const hit = g.cast(g.op('And', [g.op('Greater', [cum, target]), pos]), 'float');
  const posF = g.cast(pos, 'float');
  const first = g.op('ArgMax', [hit], { axis: -1, keepdims: 0 });
  const lastPos = g.op('ArgMax', [posF], { axis: -1, keepdims: 0, select_last_index: 1 });
  const anyHit = g.op('Greater', [g.op('ReduceMax', [hit, last], { keepdims: 0 }), g.f(0)]);
  const anyPos = g.op('Greater', [g.op('ReduceMax', [posF, last], { keepdims: 0 }), g.f(0)]);
  const r = g.op('Where', [anyHit, first, g.op('Where', [anyPos, lastPos, g.i64([0], true)])]);
  g.output(g.cast(r, 'int32'), 'int32');
}
