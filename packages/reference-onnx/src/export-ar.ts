import { GraphBuilder, type TokenGraphNames } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';
import type { CountModelSpec, EmpiricalModelSpec } from '@tessera/reference';

/**
 * ONNX export of the autoregressive reference models of `@tessera/reference` (count-based raster,
 * next-scale and masked models, and the exact empirical models), from their plain-data `exportSpec()`.
 * Every export has one graph form, "all positions at once":
 *
 * - input `tokens` int64 `[batch, L]`: the token grid (raster, masked) or all scales concatenated
 *   (next-scale, VAR's order); any value outside `[0, V)` means unknown (not generated yet, or masked);
 * - input `labels` int64 `[batch]` (absent when the model takes none): class labels, `numClasses` = null;
 * - output `logits` float32 `[batch, L, V]`: at every position p, the model's logits for p given the
 *   known tokens. For a raster model these are the teacher-forced logits (it reads only causal
 *   neighbours), for a next-scale model the logits of p's scale given the previous scale, for a masked
 *   model the logits given the unmasked tokens.
 *
 * The model's `metadata_props` record `tessera.kind`, `tessera.model`, `tessera.vocab_size`,
 * `tessera.length`, `tessera.num_classes` and `tessera.patch_nums`, which the adapters
 * (`onnxRasterModel` and friends in `token-models.ts`) read back.
 */

/** Options of {@link exportTokenModel}. */
export interface ExportTokenModelOptions {
  names?: TokenGraphNames;
}

const bad = (msg: string) => new TesseraError('INVALID_ARGUMENT', `exportTokenModel: ${msg}`);
const mismatch = (msg: string) => new TesseraError('SHAPE_MISMATCH', `exportTokenModel: ${msg}`);

function checkCommon(s: CountModelSpec | EmpiricalModelSpec): void {
  if (!['raster', 'next-scale', 'masked'].includes(s.kind))
    throw bad(`kind must be raster, next-scale or masked, got '${s.kind}'`);
  for (const [k, v] of [
    ['vocabSize', s.vocabSize],
    ['length', s.length],
  ] as const)
    if (!(Number.isInteger(v) && v >= 1)) throw bad(`${k} must be a positive integer, got ${v}`);
  if (s.numClasses !== undefined && !(Number.isInteger(s.numClasses) && s.numClasses >= 0))
    throw bad(`numClasses must be a non-negative integer, got ${s.numClasses}`);
  if (s.kind === 'next-scale') {
    const total = (s.patchNums ?? []).reduce((a, p) => a + p * p, 0);
    if (!s.patchNums?.length || total !== s.length)
      throw mismatch(`next-scale patchNums [${s.patchNums?.join(', ') ?? ''}] need Σp² = length ${s.length}`);
  }
}

function metadata(s: CountModelSpec | EmpiricalModelSpec): Record<string, string> {
  const m: Record<string, string> = {
    'tessera.kind': s.kind,
    'tessera.model': s.model,
    'tessera.vocab_size': String(s.vocabSize),
    'tessera.length': String(s.length),
  };
  if (s.numClasses !== undefined) m['tessera.num_classes'] = String(s.numClasses);
  if (s.patchNums) m['tessera.patch_nums'] = s.patchNums.join(',');
  return m;
}

function names(o: ExportTokenModelOptions) {
  return {
    tokens: o.names?.tokens ?? 'tokens',
    labels: o.names?.labels ?? 'labels',
    logits: o.names?.logits ?? 'logits',
  };
}

/** int64 `[N, L]` bool: token in [0, V). */
function knownMask(g: GraphBuilder, tok: string, V: number): string {
  return g.op('And', [
    g.op('GreaterOrEqual', [tok, g.i64([0], true)]),
    g.op('Less', [tok, g.i64([V], true)]),
  ]);
}

/**
 * Writes a count model (a {@link CountModelSpec}) as an ONNX model (opset 18): `tokens` int64
 * `[batch, L]`, `labels` int64 `[batch]` → `logits` float32 `[batch, L, V]`, a Gather from the model's
 * own float32 table, so the logits equal the TypeScript model's exactly.
 */
export function exportCountModel(spec: CountModelSpec, options: ExportTokenModelOptions = {}): Uint8Array {
  checkCommon(spec);
  const { vocabSize: V, length: L, numNeighbours: n, numClasses: C } = spec;
  if (spec.table.length !== spec.contexts * V)
    throw mismatch(`table has ${spec.table.length} values, expected contexts·V = ${spec.contexts}·${V}`);
  if (spec.neighbours.length !== L * n || spec.powers.length !== n || spec.positionOffsets.length !== L) {
    throw mismatch(
      `neighbours/powers/positionOffsets have ${spec.neighbours.length}/${spec.powers.length}/${spec.positionOffsets.length} values, expected ${L * n}/${n}/${L}`,
    );
  }
  for (const q of spec.neighbours)
    if (!(Number.isInteger(q) && q >= -1 && q < L)) throw bad(`neighbour ${q} outside [-1, ${L})`);
  const maxDigit = Math.max(V - 1, spec.boundaryToken, spec.unknownToken);
  const maxRow =
    C * spec.labelStride +
    spec.positionOffsets.reduce((a, b) => Math.max(a, b), 0) +
    spec.powers.reduce((a, p) => a + maxDigit * p, 0);
  if (maxRow >= spec.contexts || maxRow > Number.MAX_SAFE_INTEGER)
    throw bad(`row indices reach ${maxRow}, but the table has ${spec.contexts} rows`);

  const nm = names(options);
  const g = new GraphBuilder();
  const tok = g.input('int64', ['batch', L], nm.tokens);
  const lab = g.input('int64', ['batch'], nm.labels);
  const eff = g.op('Where', [knownMask(g, tok, V), tok, g.i64([spec.unknownToken], true)]); // [N, L]
  const lc = g.op('Unsqueeze', [
    g.op('Mul', [
      g.op('Max', [g.op('Min', [lab, g.i64([C], true)]), g.i64([0], true)]),
      g.i64([spec.labelStride], true),
    ]),
    g.i64([1]),
  ]); // [N, 1]
  let row = g.op('Add', [g.const('int64', spec.positionOffsets, [L]), lc]); // [N, L]
  if (n > 0) {
    const src = g.const(
      'int64',
      Array.from(spec.neighbours, (q) => Math.max(q, 0)),
      [L, n],
    );
    const isBoundary = g.const(
      'bool',
      Array.from(spec.neighbours, (q) => (q < 0 ? 1 : 0)),
      [L, n],
    );
    const digits = g.op('Where', [
      isBoundary,
      g.i64([spec.boundaryToken], true),
      g.op('Gather', [eff, src], { axis: 1 }),
    ]); // [N, L, n]
    const ctx = g.op('ReduceSum', [g.op('Mul', [digits, g.i64([...spec.powers])]), g.i64([2])], {
      keepdims: 0,
    });
    row = g.op('Add', [row, ctx]);
  }
  const logits = g.op('Gather', [g.const('float', spec.table, [spec.contexts, V]), row], { axis: 0 });
  g.output(logits, 'float', nm.logits, ['batch', L, V]);
  return g.encode(
    `tessera_${spec.kind.replace('-', '_')}_count_model`,
    `${spec.model}: ${spec.kind} count model over ${V} tokens, ${L} positions, ${C} classes (+ null) (Tessera).`,
    metadata(spec),
  );
}

/**
 * Writes an exact empirical model (an {@link EmpiricalModelSpec}) as an ONNX model (opset 18): `tokens`
 * int64 `[batch, L]` (unknown = outside [0, V)), `labels` int64 `[batch]` when the model has classes →
 * `logits` float32 `[batch, L, V]` = log of the number of matching training sequences with token v at
 * each position (−∞ where none), computed as the TypeScript model does (a float32 MatMul of 0/1
 * weights, then Log).
 */
export function exportEmpiricalModel(
  spec: EmpiricalModelSpec,
  options: ExportTokenModelOptions = {},
): Uint8Array {
  checkCommon(spec);
  const { vocabSize: V, length: L, count: S } = spec;
  if (!(Number.isInteger(S) && S >= 1) || spec.sequences.length !== S * L)
    throw mismatch(`sequences have ${spec.sequences.length} values, expected count·length = ${S}·${L}`);
  for (const t of spec.sequences) if (!(t >= 0 && t < V)) throw bad(`token ${t} outside [0, ${V})`);
  if (spec.labels && spec.labels.length !== S)
    throw mismatch(`${spec.labels.length} labels for ${S} sequences`);
  if (spec.labels && spec.numClasses === undefined) throw bad('labels are given without numClasses');

  const nm = names(options);
  const g = new GraphBuilder();
  const tok = g.input('int64', ['batch', L], nm.tokens);
  const lab = spec.numClasses !== undefined ? g.input('int64', ['batch'], nm.labels) : undefined;
  const eq = g.op('Equal', [g.op('Unsqueeze', [tok, g.i64([1])]), g.const('int64', spec.sequences, [S, L])]);
  const free = g.op('Not', [g.op('Unsqueeze', [knownMask(g, tok, V), g.i64([1])])]);
  let alive = g.op('ReduceMin', [g.cast(g.op('Or', [eq, free]), 'float'), g.i64([2])], { keepdims: 0 }); // [N, S]
  if (lab && spec.labels) {
    const l2 = g.op('Unsqueeze', [lab, g.i64([1])]);
    const match = g.op('Or', [
      g.op('Equal', [l2, g.const('int64', spec.labels, [S])]),
      g.op('Equal', [l2, g.i64([spec.numClasses!], true)]),
    ]);
    alive = g.op('Mul', [alive, g.cast(match, 'float')]);
  } else if (lab) {
    // labels are accepted and ignored (every sequence matches): keep the input in use
    alive = g.op('Add', [
      alive,
      g.op('Mul', [g.cast(g.op('Unsqueeze', [lab, g.i64([1])]), 'float'), g.f(0)]),
    ]);
  }
  const onehot = new Float32Array(S * L * V);
  spec.sequences.forEach((t, i) => {
    onehot[i * V + t] = 1;
  });
  const counts = g.op('MatMul', [alive, g.const('float', onehot, [S, L * V])]);
  const logits = g.op('Reshape', [g.op('Log', [counts]), g.i64([-1, L, V])]);
  g.output(logits, 'float', nm.logits, ['batch', L, V]);
  return g.encode(
    `tessera_${spec.kind.replace('-', '_')}_empirical_model`,
    `${spec.model}: exact empirical ${spec.kind} model of ${S} sequences of ${L} tokens over ${V} values (Tessera).`,
    metadata(spec),
  );
}

/**
 * Writes a `@tessera/reference` AR model to ONNX: pass the model itself (anything with `exportSpec()`)
 * or its spec. Count specs go to {@link exportCountModel}, empirical ones to {@link exportEmpiricalModel}.
 *
 * @example
 * const bytes = exportTokenModel(RasterCountModel.fit(proceduralTokenGrids({ count: 200 })));
 * const model = await onnxRasterModel(bytes, { backend: B });
 * const tokens = await rasterDecode(model, { batch: 4, length: model.length, backend: B, seed: 1 });
 */
export function exportTokenModel(
  source: CountModelSpec | EmpiricalModelSpec | { exportSpec(): CountModelSpec | EmpiricalModelSpec },
  options: ExportTokenModelOptions = {},
): Uint8Array {
  const spec = 'exportSpec' in source ? source.exportSpec() : source;
  if ('table' in spec) return exportCountModel(spec, options);
  if ('sequences' in spec) return exportEmpiricalModel(spec, options);
  throw bad('expected a count spec (with table) or an empirical spec (with sequences)');
}
