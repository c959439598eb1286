import { type DType, fmtShape, isTensor, shapes, type Tensor, TesseraError } from '@tessera/core';
import type { InferenceSession, OrtTensor } from './runtime.js';

/** A declared model input or output. */
export interface IOSpec {
  name: string;
  /** ONNX Runtime type name (`float32`, `int64`, `float16`, …). */
  type: string;
  /** Extents; symbolic dims are strings. Empty when ONNX Runtime does not know the rank. */
  shape: ReadonlyArray<number | string>;
}

/** What a model's input or output must look like (`null` or a string matches any extent). */
export interface ValueExpectation {
  /** Allowed ONNX Runtime type names. */
  dtype?: string | readonly string[];
  /** Expected extents. */
  shape?: ReadonlyArray<number | string | null>;
}

/** Inputs and outputs a model must declare. */
export interface ModelExpectation {
  inputs?: Record<string, ValueExpectation>;
  outputs?: Record<string, ValueExpectation>;
}

/** Reads names and metadata from a session. */
export function ioFromSession(s: InferenceSession): [IOSpec[], IOSpec[]] {
  const read = (
    names: readonly string[],
    meta: readonly InferenceSession.ValueMetadata[] | undefined,
  ): IOSpec[] =>
    names.map((name, i) => {
      const m = meta?.[i] as
        | { isTensor?: boolean; type?: string; shape?: ReadonlyArray<number | string> }
        | undefined;
      return { name, type: m?.type ?? 'unknown', shape: m?.shape ?? [] };
    });
  return [read(s.inputNames, s.inputMetadata), read(s.outputNames, s.outputMetadata)];
}

/** `name type [dims]` for messages. */
export function fmtSpec(v: IOSpec): string {
  return `${v.name} ${v.type} [${v.shape.map((d) => (typeof d === 'number' ? d : d || '?')).join(', ')}]`;
}

function fmtExpect(name: string, e: ValueExpectation): string {
  const dt = e.dtype === undefined ? 'any' : typeof e.dtype === 'string' ? e.dtype : e.dtype.join('|');
  const sh = e.shape ? ` [${e.shape.map((d) => (typeof d === 'number' ? d : (d ?? '?'))).join(', ')}]` : '';
  return `${name} ${dt}${sh}`;
}

/** The Tessera dtype an ONNX type maps to (floats → float32, signed ints and bool → int32). */
export function toTesseraDtype(type: string): DType {
  if (type === 'uint32') return 'uint32';
  if (type === 'float32' || type === 'float16' || type === 'float64') return 'float32';
  if (['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'bool'].includes(type)) return 'int32';
  throw new TesseraError('UNSUPPORTED', `onnxModel: element type '${type}' has no Tessera dtype`);
}

function shapeProblems(
  kind: string,
  spec: IOSpec,
  want: ReadonlyArray<number | string | null>,
): string | undefined {
  if (spec.shape.length === 0) return undefined; // rank unknown to ONNX Runtime
  if (spec.shape.length !== want.length)
    return `${kind} '${spec.name}' has rank ${spec.shape.length} [${spec.shape.join(', ')}], expected rank ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const d = spec.shape[i];
    if (typeof w === 'number' && typeof d === 'number' && w !== d)
      return `${kind} '${spec.name}' axis ${i} is ${d}, expected ${w}`;
  }
  return undefined;
}

/** Throws MODEL_MISMATCH listing every difference between the declared I/O and `expect`. */
export function validateExpectation(
  label: string,
  inputs: readonly IOSpec[],
  outputs: readonly IOSpec[],
  expect: ModelExpectation,
): void {
  const problems: string[] = [];
  const check = (
    kind: 'input' | 'output',
    declared: readonly IOSpec[],
    wanted?: Record<string, ValueExpectation>,
  ) => {
    for (const [name, e] of Object.entries(wanted ?? {})) {
      const spec = declared.find((v) => v.name === name);
      if (!spec) {
        problems.push(`missing ${kind} '${name}'`);
        continue;
      }
      const types = e.dtype === undefined ? undefined : typeof e.dtype === 'string' ? [e.dtype] : e.dtype;
      if (types && !types.includes(spec.type))
        problems.push(`${kind} '${name}' is ${spec.type}, expected ${types.join(' or ')}`);
      const sp = e.shape ? shapeProblems(kind, spec, e.shape) : undefined;
      if (sp) problems.push(sp);
    }
  };
  check('input', inputs, expect.inputs);
  check('output', outputs, expect.outputs);
  if (problems.length) {
    const exp = [
      ...Object.entries(expect.inputs ?? {}).map(([n, e]) => `in ${fmtExpect(n, e)}`),
      ...Object.entries(expect.outputs ?? {}).map(([n, e]) => `out ${fmtExpect(n, e)}`),
    ];
    throw new TesseraError(
      'MODEL_MISMATCH',
      `model '${label}' does not match: ${problems.join('; ')}. Expected: ${exp.join(', ')}. Model declares inputs: ${inputs.map(fmtSpec).join(', ') || '(none)'}; outputs: ${outputs.map(fmtSpec).join(', ') || '(none)'}`,
    );
  }
}

const FEEDABLE: Record<DType, readonly string[]> = {
  float32: ['float32', 'float16', 'float64'],
  int32: ['int32', 'int64', 'uint32', 'float32'],
  uint32: ['uint32', 'int64', 'int32'],
};

/** Checks a run's feeds against the declared inputs: names, ranks, static extents, dtypes. */
export function checkFeeds(
  label: string,
  inputs: readonly IOSpec[],
  feeds: Record<string, Tensor | OrtTensor>,
  backendName: string,
): void {
  if (feeds === null || typeof feeds !== 'object')
    throw new TesseraError('INVALID_ARGUMENT', `model '${label}': feeds must be an object of named tensors`);
  const given = Object.keys(feeds);
  const missing = inputs.filter((v) => !given.includes(v.name)).map((v) => v.name);
  const unknown = given.filter((n) => !inputs.some((v) => v.name === n));
  if (missing.length || unknown.length) {
    throw new TesseraError(
      'MODEL_MISMATCH',
      `model '${label}': ${[missing.length ? `missing input(s) ${missing.join(', ')}` : '', unknown.length ? `unknown input(s) ${unknown.join(', ')}` : ''].filter(Boolean).join('; ')}. Model declares inputs: ${inputs.map(fmtSpec).join(', ')}; given: ${given.join(', ') || '(none)'}`,
    );
  }
  for (const spec of inputs) {
    const v = feeds[spec.name]!;
    let dims: readonly number[];
    if (isTensor(v)) {
      shapes.checkTensor(`model '${label}' input '${spec.name}'`, v, backendName, spec.name);
      if (!FEEDABLE[v.dtype].includes(spec.type)) {
        throw new TesseraError(
          'DTYPE_MISMATCH',
          `model '${label}': input '${spec.name}' is ${spec.type}, cannot feed a ${v.dtype} tensor ${fmtShape(v.shape)}`,
        );
      }
      dims = v.shape;
    } else {
      if (v.type !== spec.type)
        throw new TesseraError(
          'DTYPE_MISMATCH',
          `model '${label}': input '${spec.name}' is ${spec.type}, got an ort.Tensor of ${v.type}`,
        );
      dims = v.dims;
    }
    const bad =
      spec.shape.length > 0 &&
      (dims.length !== spec.shape.length ||
        spec.shape.some((d, i) => typeof d === 'number' && d !== dims[i]));
    if (bad) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `model '${label}': input '${spec.name}' expects ${fmtSpec(spec)}, got shape ${fmtShape(dims)}`,
      );
    }
  }
}
