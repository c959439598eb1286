/**
 * A minimal protobuf writer for the subset of the ONNX schema (onnx/onnx.proto, IR version 8) that
 * Tessera emits: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto.
 * Field numbers follow onnx.proto; only the wire types varint (0), 32-bit (5) and length-delimited (2)
 * are needed.
 */

/** ONNX `TensorProto.DataType` codes. */
export const ONNX_DTYPE = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  double: 11,
  uint32: 12,
} as const;

/** An ONNX element type name. */
export type OnnxElem = keyof typeof ONNX_DTYPE;

/** Appends protobuf fields to a growing byte buffer. */
export class ProtoWriter {
  #buf = new Uint8Array(256);
  #len = 0;

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** Raw varint of a non-negative or negative (two's complement, 10 bytes) integer or bigint. */
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    this.#ensure(10);
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      this.#buf[this.#len++] = byte;
    } while (x !== 0n);
    return this;
  }

  #tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** An int32/int64/enum field. */
  int(field: number, v: number | bigint): this {
    this.#tag(field, 0);
    return this.varint(v);
  }

  /** A float field (wire type 5). */
  float(field: number, v: number): this {
    this.#tag(field, 5);
    this.#ensure(4);
    new DataView(this.#buf.buffer).setFloat32(this.#len, v, true);
    this.#len += 4;
    return this;
  }

  /** A length-delimited bytes field. */
  bytes(field: number, b: Uint8Array): this {
    this.#tag(field, 2);
    this.varint(b.length);
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** A UTF-8 string field. */
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message field. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated varints. */
  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of vs) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated floats. */
  packedFloats(field: number, vs: readonly number[]): this {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    for (const [i, v] of vs.entries()) dv.setFloat32(i * 4, v, true);
    return this.bytes(field, b);
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** An attribute value: number (int unless `float` wraps it), string, number arrays, or a tensor. */
export type AttrValue =
  | number
  | string
  | { float: number }
  | { floats: readonly number[] }
  | { ints: readonly number[] }
  | { tensor: TensorInit };

/** A constant tensor (initializer or Constant value). */
export interface TensorInit {
  name?: string;
  elem: OnnxElem;
  dims: readonly number[];
  /** Values; int64 may be given as numbers. */
  data: ArrayLike<number> | BigInt64Array;
}

/** One node of a graph. */
export interface NodeInit {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs?: Record<string, AttrValue | undefined>;
  domain?: string;
}

/** A graph input or output: element type and dims (number, symbolic name, or `null` rank for unknown). */
export interface ValueInit {
  name: string;
  elem: OnnxElem;
  /** Extents (numbers or symbolic names); omit for a tensor of unknown rank. */
  dims?: readonly (number | string)[];
}

/** A whole model. */
export interface ModelInit {
  nodes: readonly NodeInit[];
  inputs: readonly ValueInit[];
  outputs: readonly ValueInit[];
  initializers?: readonly TensorInit[];
  name?: string;
  opset?: number;
  irVersion?: number;
  producer?: string;
  docString?: string;
  /** `ModelProto.metadata_props`: string key/value pairs stored with the model. */
  metadata?: Record<string, string>;
}

function rawBytes(t: TensorInit): Uint8Array {
  const n = t.data.length;
  switch (t.elem) {
    case 'float':
      return new Uint8Array(Float32Array.from(t.data as ArrayLike<number>).buffer);
    case 'double':
      return new Uint8Array(Float64Array.from(t.data as ArrayLike<number>).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(t.data as ArrayLike<number>).buffer);
    case 'uint32':
      return new Uint8Array(Uint32Array.from(t.data as ArrayLike<number>).buffer);
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(t.data[i] as number | bigint);
      return new Uint8Array(a.buffer);
    }
    case 'float16':
      throw new Error('float16 initializers are not supported by this writer');
    case 'bool':
    case 'uint8':
      return Uint8Array.from(t.data as ArrayLike<number>);
    case 'int8':
      return new Uint8Array(Int8Array.from(t.data as ArrayLike<number>).buffer);
  }
}

/** TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian). */
export function writeTensor(w: ProtoWriter, t: TensorInit): void {
  if (t.dims.length) w.packedInts(1, t.dims);
  w.int(2, ONNX_DTYPE[t.elem]);
  if (t.name) w.string(8, t.name);
  w.bytes(9, rawBytes(t));
}

/** AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, type = 20. */
function writeAttr(w: ProtoWriter, name: string, v: AttrValue): void {
  w.string(1, name);
  if (typeof v === 'number') w.int(3, v).int(20, 2);
  else if (typeof v === 'string') w.string(4, v).int(20, 3);
  else if ('float' in v) w.float(2, v.float).int(20, 1);
  else if ('floats' in v) w.packedFloats(7, v.floats).int(20, 6);
  else if ('ints' in v) w.packedInts(8, v.ints).int(20, 7);
  else w.message(5, (m) => writeTensor(m, v.tensor)).int(20, 4);
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. */
function writeNode(w: ProtoWriter, n: NodeInit, index: number): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {}))
    if (v !== undefined) w.message(5, (m) => writeAttr(m, k, v));
  if (n.domain) w.string(7, n.domain);
}

/**
 * ValueInfoProto: name = 1, type = 2 → TypeProto.tensor_type = 1 → elem_type = 1, shape = 2 →
 * TensorShapeProto.dim = 1 → dim_value = 1 | dim_param = 2.
 */
function writeValueInfo(w: ProtoWriter, v: ValueInit): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, ONNX_DTYPE[v.elem]);
      if (v.dims) {
        tt.message(2, (shape) => {
          for (const d of v.dims!)
            shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        });
      }
    }),
  );
}

/**
 * Serialises a model. ModelProto: ir_version = 1, producer_name = 2, doc_string = 6, graph = 7,
 * opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2), metadata_props = 14
 * (StringStringEntryProto: key = 1, value = 2). GraphProto: node = 1, name = 2,
 * initializer = 5, input = 11, output = 12.
 */
export function encodeModel(m: ModelInit): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion ?? 8);
  w.string(2, m.producer ?? 'tessera');
  if (m.docString) w.string(6, m.docString);
  w.message(7, (g) => {
    for (const [i, n] of m.nodes.entries()) g.message(1, (nw) => writeNode(nw, n, i));
    g.string(2, m.name ?? 'tessera');
    for (const t of m.initializers ?? []) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, m.opset ?? 18));
  for (const [key, value] of Object.entries(m.metadata ?? {}))
    w.message(14, (e) => e.string(1, key).string(2, value));
  return w.finish();
}
