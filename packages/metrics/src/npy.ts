import { TesseraError } from '@tessera/core';

/** A numpy array read from `.npy` bytes, converted to float64 (C order). */
export interface NpyArray {
  /** The numpy dtype string as stored, e.g. `<f8`. */
  descr: string;
  shape: number[];
  data: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Parses the `.npy` format (versions 1–3): little- or big-endian float16/32/64, signed and unsigned
 * 8–64-bit integers and bool, C or Fortran order (Fortran data is transposed to C order). Malformed
 * bytes are a `CORRUPT_FILE` TesseraError; other dtypes (objects, strings, complex) are `UNSUPPORTED`.
 */
export function parseNpy(bytes: Uint8Array, source = '.npy data'): NpyArray {
  const bad = (what: string) => new TesseraError('CORRUPT_FILE', `parseNpy: ${source}: ${what}`);
  if (bytes.byteLength < 10 || MAGIC.some((m, i) => bytes[i] !== m))
    throw bad('missing the \\x93NUMPY magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw bad('truncated header');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else throw new TesseraError('UNSUPPORTED', `parseNpy: ${source}: format version ${major} (1–3 expected)`);
  if (offset + headerLen > bytes.byteLength) throw bad(`header of ${headerLen} bytes runs past the end`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(offset, offset + headerLen),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(`header should name descr, fortran_order and shape, got ${JSON.stringify(header.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((s) => !Number.isSafeInteger(s) || s < 0)) throw bad(`bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (!m) throw new TesseraError('UNSUPPORTED', `parseNpy: ${source}: dtype '${descr}' (numbers only)`);
  const little = m[1] !== '>';
  const kind = m[2]!;
  const size = Number(m[3]);
  const read = reader(view, kind, size, little);
  if (!read) throw new TesseraError('UNSUPPORTED', `parseNpy: ${source}: dtype '${descr}'`);
  const start = offset + headerLen;
  if (start + count * size !== bytes.byteLength) {
    throw bad(
      `shape (${shape.join(', ')}) of ${descr} needs ${count * size} data bytes, got ${bytes.byteLength - start}`,
    );
  }
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = read(start + i * size);
  return { descr, shape, data: fortran === 'True' ? fortranToC(data, shape) : data };
}

function reader(
  view: DataView,
  kind: string,
  size: number,
  le: boolean,
): ((o: number) => number) | undefined {
  if (kind === 'f' && size === 8) return (o) => view.getFloat64(o, le);
  if (kind === 'f' && size === 4) return (o) => view.getFloat32(o, le);
  if (kind === 'f' && size === 2) return (o) => half(view.getUint16(o, le));
  if (kind === 'i' && size === 1) return (o) => view.getInt8(o);
  if (kind === 'i' && size === 2) return (o) => view.getInt16(o, le);
  if (kind === 'i' && size === 4) return (o) => view.getInt32(o, le);
  if (kind === 'i' && size === 8) return (o) => Number(view.getBigInt64(o, le));
  if ((kind === 'u' || kind === 'b') && size === 1) return (o) => view.getUint8(o);
  if (kind === 'u' && size === 2) return (o) => view.getUint16(o, le);
  if (kind === 'u' && size === 4) return (o) => view.getUint32(o, le);
  if (kind === 'u' && size === 8) return (o) => Number(view.getBigUint64(o, le));
  return undefined;
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function fortranToC(data: Float64Array, shape: number[]): Float64Array {
  const nd = shape.length;
  if (nd < 2) return data;
  const out = new Float64Array(data.length);
  const idx = new Array<number>(nd).fill(0);
  for (let f = 0; f < data.length; f++) {
    // f walks Fortran order (first index fastest); compute the C offset of the same index.
    let c = 0;
    for (let k = 0; k < nd; k++) c = c * shape[k]! + idx[k]!;
    out[c] = data[f]!;
    for (let k = 0; k < nd; k++) {
      idx[k]! += 1;
      if (idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}
