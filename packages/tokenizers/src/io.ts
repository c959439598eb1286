import {
  type Backend,
  currentBackend,
  type DType,
  fmtShape,
  type Tensor,
  TesseraError,
  type TypedArray,
} from '@tessera/core';

/** A host array read from a file: values widened or narrowed to a Tessera dtype, with the file's dtype. */
export interface HostArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
  /** The dtype as the file names it (`F16`, `<f8`, …). */
  sourceDtype: string;
}

const corrupt = (file: string, msg: string) => new TesseraError('CORRUPT_FILE', `${file}: ${msg}`);

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Element decoders by little-endian kind: [bytes per element, Tessera dtype, reader]. */
type Reader = (v: DataView, off: number) => number;
const KINDS: Record<string, [number, DType, Reader]> = {
  f4: [4, 'float32', (v, o) => v.getFloat32(o, true)],
  f8: [8, 'float32', (v, o) => v.getFloat64(o, true)],
  f2: [2, 'float32', (v, o) => f16ToF32(v.getUint16(o, true))],
  bf2: [
    2,
    'float32',
    (v, o) => {
      const b = new DataView(new ArrayBuffer(4));
      b.setUint32(0, v.getUint16(o, true) << 16, true);
      return b.getFloat32(0, true);
    },
  ],
  i1: [1, 'int32', (v, o) => v.getInt8(o)],
  u1: [1, 'int32', (v, o) => v.getUint8(o)],
  i2: [2, 'int32', (v, o) => v.getInt16(o, true)],
  u2: [2, 'int32', (v, o) => v.getUint16(o, true)],
  i4: [4, 'int32', (v, o) => v.getInt32(o, true)],
  u4: [4, 'uint32', (v, o) => v.getUint32(o, true)],
  i8: [8, 'int32', (v, o) => Number(v.getBigInt64(o, true))],
};

const SAFETENSORS_KINDS: Record<string, string> = {
  F32: 'f4',
  F64: 'f8',
  F16: 'f2',
  BF16: 'bf2',
  I8: 'i1',
  U8: 'u1',
  I16: 'i2',
  U16: 'u2',
  I32: 'i4',
  U32: 'u4',
  I64: 'i8',
};

function decode(
  file: string,
  bytes: Uint8Array,
  offset: number,
  count: number,
  kind: string,
  sourceDtype: string,
  shape: number[],
): HostArray {
  const [size, dtype, read] = KINDS[kind]!;
  if (offset + count * size > bytes.byteLength) {
    throw corrupt(
      file,
      `truncated: ${count} × ${sourceDtype} needs ${count * size} bytes at offset ${offset}, only ${bytes.byteLength - offset} present`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
  const data =
    dtype === 'float32'
      ? new Float32Array(count)
      : dtype === 'int32'
        ? new Int32Array(count)
        : new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const v = read(view, i * size);
    if (kind === 'i8' && (v > 2 ** 31 - 1 || v < -(2 ** 31)))
      throw corrupt(file, `int64 value ${v} does not fit int32`);
    data[i] = v;
  }
  return { dtype, shape, data, sourceDtype };
}

function checkShapeList(file: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw corrupt(file, `bad shape ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

/**
 * Parses a safetensors file (8-byte little-endian header length N, N bytes of JSON header, then the data
 * buffer; each tensor's `data_offsets` are [begin, end) into the buffer). Returns every tensor by name.
 */
export function parseSafetensors(bytes: Uint8Array, file = 'safetensors'): Map<string, HostArray> {
  if (bytes.byteLength < 8)
    throw corrupt(file, `truncated: ${bytes.byteLength} bytes, the 8-byte header length is missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > bytes.byteLength)
    throw corrupt(file, `truncated: header of ${n} bytes but only ${bytes.byteLength - 8} follow`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw corrupt(file, `header is not JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    throw corrupt(file, 'header is not a JSON object');
  const out = new Map<string, HostArray>();
  const base = 8 + n;
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const {
      dtype,
      shape,
      data_offsets: offs,
    } = (info ?? {}) as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const kind = SAFETENSORS_KINDS[dtype ?? ''];
    if (!kind)
      throw new TesseraError(
        'UNSUPPORTED',
        `${file}: tensor '${name}' has dtype ${dtype} (supported: ${Object.keys(SAFETENSORS_KINDS).join(', ')})`,
      );
    const sh = checkShapeList(file, shape);
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isInteger(o) && o >= 0) ||
      offs[1] < offs[0]
    ) {
      throw corrupt(file, `tensor '${name}' has bad data_offsets ${JSON.stringify(offs)}`);
    }
    const count = sh.reduce((a, b) => a * b, 1);
    const need = count * KINDS[kind]![0];
    if (offs[1] - offs[0] !== need) {
      throw corrupt(
        file,
        `tensor '${name}' ${dtype} ${fmtShape(sh)} needs ${need} bytes, data_offsets span ${offs[1] - offs[0]}`,
      );
    }
    out.set(name, decode(file, bytes, base + offs[0], count, kind, dtype!, sh));
  }
  return out;
}

/** Writes tensors as a safetensors file (F32 for float32, I32 for int32, U32 for uint32). */
export function encodeSafetensors(
  tensors: Record<string, { data: TypedArray; shape: readonly number[] }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.data instanceof Float32Array ? 'F32' : t.data instanceof Int32Array ? 'I32' : 'U32';
    header[name] = { dtype, shape: [...t.shape], data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let p = 8 + json.byteLength;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

/**
 * Parses a NumPy .npy file (format versions 1.0, 2.0, 3.0): magic `\x93NUMPY`, version bytes, header
 * length (uint16 LE in 1.0, uint32 LE after), a Python dict literal with `descr`, `fortran_order`, `shape`,
 * then the raw data. Little-endian (or byte-order-free) numeric descrs only; Fortran order is transposed.
 */
export function parseNpy(bytes: Uint8Array, file = 'npy'): HostArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.byteLength < 10 || !magic.every((b, i) => bytes[i] === b))
    throw corrupt(file, 'not a .npy file (magic \\x93NUMPY missing)');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major < 1 || major > 3)
    throw new TesseraError(
      'UNSUPPORTED',
      `${file}: .npy format version ${major}.${bytes[7]} (supported 1.0–3.0)`,
    );
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.byteLength < 8 + lenBytes) throw corrupt(file, 'truncated header length');
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (start + hlen > bytes.byteLength)
    throw corrupt(file, `truncated: header of ${hlen} bytes but only ${bytes.byteLength - start} follow`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(start, start + hlen),
  );
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined)
    throw corrupt(file, `header is not a .npy dict: ${header.trim()}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  checkShapeList(file, shape);
  const order = descr[0]!;
  const kind = descr.slice(1);
  if (order === '>' && kind !== 'i1' && kind !== 'u1') {
    throw new TesseraError(
      'UNSUPPORTED',
      `${file}: big-endian dtype ${descr}; save it little-endian (arr.astype('<f4'))`,
    );
  }
  if (!'<|='.includes(order) && order !== '>')
    throw new TesseraError('UNSUPPORTED', `${file}: dtype ${descr}`);
  if (!KINDS[kind] || kind === 'bf2')
    throw new TesseraError(
      'UNSUPPORTED',
      `${file}: dtype ${descr} (supported f2, f4, f8, i1, u1, i2, u2, i4, u4, i8)`,
    );
  const count = shape.reduce((a, b) => a * b, 1);
  const arr = decode(file, bytes, start + hlen, count, kind, descr, shape);
  if (fortran === 'True' && shape.length > 1) arr.data = fromFortran(arr.data, shape);
  return arr;
}

function fromFortran(src: TypedArray, shape: number[]): TypedArray {
  const out = new (src.constructor as new (n: number) => TypedArray)(src.length);
  const n = shape.length;
  const idx = new Array<number>(n).fill(0);
  for (let f = 0; f < src.length; f++) {
    let c = 0;
    for (let a = 0; a < n; a++) c = c * shape[a]! + idx[a]!;
    out[c] = src[f]!;
    for (let a = 0; a < n; a++) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Writes a little-endian .npy (format 1.0) of a float32, int32 or uint32 array. */
export function encodeNpy(data: TypedArray, shape: readonly number[]): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : '<u4';
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/**
 * Parses a JSON codebook: a nested array `[[...], ...]`, `{ "shape": [K, D], "data": [...] }`, or an
 * object whose key `name` holds either form.
 */
export function parseCodebookJson(text: string, name?: string, file = 'json'): HostArray {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `not valid JSON (${(e as Error).message})`);
  }
  if (name !== undefined) {
    if (!v || typeof v !== 'object' || !(name in (v as object)))
      throw new TesseraError('UNKNOWN_NAME', `${file}: no key '${name}'`);
    v = (v as Record<string, unknown>)[name];
  }
  if (Array.isArray(v)) {
    const shape: number[] = [];
    for (let x: unknown = v; Array.isArray(x); x = x[0]) shape.push(x.length);
    const flat = (v as unknown[]).flat(shape.length) as unknown[];
    if (flat.length !== shape.reduce((a, b) => a * b, 1) || !flat.every((x) => typeof x === 'number')) {
      throw corrupt(file, `nested arrays must be rectangular and numeric (outer shape ${fmtShape(shape)})`);
    }
    return { dtype: 'float32', shape, data: Float32Array.from(flat as number[]), sourceDtype: 'json' };
  }
  const o = v as { shape?: unknown; data?: unknown };
  if (o && typeof o === 'object' && Array.isArray(o.data)) {
    const shape = checkShapeList(file, o.shape);
    const count = shape.reduce((a, b) => a * b, 1);
    if (o.data.length !== count || !o.data.every((x) => typeof x === 'number')) {
      throw corrupt(
        file,
        `data has ${o.data.length} entries (numbers expected), shape ${fmtShape(shape)} needs ${count}`,
      );
    }
    return { dtype: 'float32', shape, data: Float32Array.from(o.data as number[]), sourceDtype: 'json' };
  }
  throw corrupt(file, 'expected a nested array or { "shape", "data" }');
}

/** Options of {@link loadCodebook}. */
export interface LoadCodebookOptions {
  /** File format; detected from the bytes when omitted. */
  format?: 'safetensors' | 'npy' | 'json';
  /** Tensor name (safetensors: required when the file holds several tensors; json: a top-level key). */
  name?: string;
  /** Expected [K, D]; −1 (or undefined) accepts any extent. */
  shape?: readonly [number | undefined, number | undefined];
  /** Backend of the returned tensor (default: the active backend). */
  backend?: Backend;
  /** File name for error messages. */
  file?: string;
}

/** Guesses the format of a codebook file from its first bytes. */
export function detectFormat(bytes: Uint8Array): 'safetensors' | 'npy' | 'json' {
  if (bytes[0] === 0x93 && bytes[1] === 0x4e) return 'npy';
  if (bytes.byteLength >= 9 && bytes[8] === 0x7b) {
    // safetensors: a small little-endian header length (bytes 4..7 zero), then '{'
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(4, true) === 0) return 'safetensors';
  }
  return 'json';
}

/**
 * Loads a float codebook [K, D] from safetensors, .npy or JSON bytes (or JSON text) as a float32 tensor.
 * Throws `CORRUPT_FILE` for a truncated or malformed file, `DTYPE_MISMATCH` for integer data,
 * `SHAPE_MISMATCH` for a shape that is not 2-D or not the expected one, `UNKNOWN_NAME` for a missing tensor.
 */
export function loadCodebook(source: Uint8Array | string, options: LoadCodebookOptions = {}): Tensor {
  const file = options.file ?? 'codebook';
  const bytes = typeof source === 'string' ? new TextEncoder().encode(source) : source;
  const format = options.format ?? (typeof source === 'string' ? 'json' : detectFormat(bytes));
  let arr: HostArray;
  if (format === 'npy') arr = parseNpy(bytes, file);
  else if (format === 'json')
    arr = parseCodebookJson(
      typeof source === 'string' ? source : new TextDecoder().decode(bytes),
      options.name,
      file,
    );
  else {
    const all = parseSafetensors(bytes, file);
    if (options.name !== undefined) {
      const t = all.get(options.name);
      if (!t)
        throw new TesseraError(
          'UNKNOWN_NAME',
          `${file}: no tensor '${options.name}' (has ${[...all.keys()].join(', ') || 'none'})`,
        );
      arr = t;
    } else if (all.size === 1) arr = [...all.values()][0]!;
    else
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${file}: holds ${all.size} tensors (${[...all.keys()].join(', ')}); pass options.name`,
      );
  }
  if (arr.dtype !== 'float32') {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${file}: a codebook must hold floats, got ${arr.sourceDtype} ${fmtShape(arr.shape)}`,
    );
  }
  if (arr.shape.length !== 2)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${file}: a codebook must be 2-D [K, D], got ${fmtShape(arr.shape)}`,
    );
  const want = options.shape;
  if (want?.some((w, i) => w !== undefined && w !== -1 && w !== arr.shape[i])) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${file}: expected codebook [${want.map((w) => (w === undefined || w === -1 ? '?' : w)).join(', ')}], got ${fmtShape(arr.shape)}`,
    );
  }
  return (options.backend ?? currentBackend()).tensor(arr.data, arr.shape, 'float32');
}

/** Reads a codebook file from disk (Node only) with {@link loadCodebook}; `FILE_NOT_FOUND` if missing. */
export async function loadCodebookFile(path: string, options: LoadCodebookOptions = {}): Promise<Tensor> {
  // a variable specifier: browser bundlers leave the Node-only import alone instead of failing on it
  const nodeFs = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ nodeFs)) as typeof import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(path));
  } catch (e) {
    throw new TesseraError(
      'FILE_NOT_FOUND',
      `loadCodebookFile: cannot read ${path} (${(e as Error).message})`,
      { cause: e },
    );
  }
  return loadCodebook(bytes, { file: path, ...options });
}
