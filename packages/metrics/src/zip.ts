import { TesseraError } from '@tessera/core';

/** Raw-DEFLATE decompressor: bytes in, bytes out. */
export type InflateRaw = (data: Uint8Array) => Promise<Uint8Array>;

/** Options of {@link readZip}. */
export interface ReadZipOptions {
  /** Decompressor for method 8 entries; default: the web-standard `DecompressionStream('deflate-raw')`. */
  inflateRaw?: InflateRaw;
  /** Name used in error messages (e.g. the file path). */
  source?: string;
}

/** `DecompressionStream('deflate-raw')` (Node ≥ 20, browsers): the default {@link InflateRaw}. */
export const webInflateRaw: InflateRaw = async (data) => {
  if (typeof DecompressionStream === 'undefined') {
    throw new TesseraError(
      'UNSUPPORTED',
      'readZip: DecompressionStream is not available here; pass options.inflateRaw (e.g. node:zlib inflateRawSync)',
    );
  }
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  const done = writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close());
  const out = new Uint8Array(await new Response(ds.readable).arrayBuffer());
  await done;
  return out;
};

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Reads every file of a ZIP archive (stored or deflated entries, ZIP64 fields as numpy's `savez` writes
 * them) into a map from name to bytes, checking each entry's CRC-32. Anything malformed is a
 * `CORRUPT_FILE` TesseraError; encrypted entries and other compression methods are `UNSUPPORTED`.
 */
export async function readZip(
  bytes: Uint8Array,
  opts: ReadZipOptions = {},
): Promise<Map<string, Uint8Array>> {
  const src = opts.source ?? 'zip archive';
  const bad = (what: string) => new TesseraError('CORRUPT_FILE', `readZip: ${src}: ${what}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;
  // End of central directory: last signature within the final 22 + 65535 bytes.
  let eocd = -1;
  for (let p = len - 22; p >= Math.max(0, len - 22 - 65535); p--) {
    if (view.getUint32(p, true) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record (not a zip file, or truncated)');
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) && eocd >= 20) {
    const loc = eocd - 20;
    if (view.getUint32(loc, true) !== EOCD64_LOCATOR) throw bad('ZIP64 locator missing');
    const e64 = Number(view.getBigUint64(loc + 8, true));
    if (e64 + 56 > len || view.getUint32(e64, true) !== EOCD64) throw bad('ZIP64 end record missing');
    count = Number(view.getBigUint64(e64 + 32, true));
    cdSize = Number(view.getBigUint64(e64 + 40, true));
    cdOffset = Number(view.getBigUint64(e64 + 48, true));
  }
  if (cdOffset + cdSize > len)
    throw bad(`central directory (${cdOffset}+${cdSize}) runs past the end (${len} bytes)`);
  const inflate = opts.inflateRaw ?? webInflateRaw;
  const out = new Map<string, Uint8Array>();
  let p = cdOffset;
  for (let e = 0; e < count; e++) {
    if (p + 46 > len || view.getUint32(p, true) !== CENTRAL)
      throw bad(`central directory entry ${e} is damaged`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > len) throw bad(`central directory entry ${e} runs past the end`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 0xFFFFFFFF fields, in order usize, csize, offset.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const size = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (usize === 0xffffffff && q + 8 <= x + 4 + size) {
          usize = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (csize === 0xffffffff && q + 8 <= x + 4 + size) {
          csize = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (local === 0xffffffff && q + 8 <= x + 4 + size) local = Number(view.getBigUint64(q, true));
      }
      x += 4 + size;
    }
    p = xEnd + commentLen;
    if (flags & 1) throw new TesseraError('UNSUPPORTED', `readZip: ${src}: entry '${name}' is encrypted`);
    if (local + 30 > len || view.getUint32(local, true) !== LOCAL)
      throw bad(`local header of '${name}' is damaged`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + csize > len) throw bad(`data of '${name}' (${csize} bytes at ${start}) runs past the end`);
    const raw = bytes.subarray(start, start + csize);
    let data: Uint8Array;
    if (method === 0) data = raw.slice();
    else if (method === 8) {
      try {
        data = await inflate(raw);
      } catch (cause) {
        if (cause instanceof TesseraError) throw cause;
        throw new TesseraError('CORRUPT_FILE', `readZip: ${src}: '${name}' does not inflate`, { cause });
      }
    } else
      throw new TesseraError('UNSUPPORTED', `readZip: ${src}: '${name}' uses compression method ${method}`);
    if (data.byteLength !== usize) throw bad(`'${name}' should be ${usize} bytes, got ${data.byteLength}`);
    const got = crc32(data);
    if (got !== crc) {
      throw bad(`'${name}' CRC-32 0x${crc.toString(16)} expected, got 0x${got.toString(16)}`);
    }
    out.set(name, data);
  }
  return out;
}

let table: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, reflected 0xEDB88320), as ZIP stores it. */
export function crc32(data: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
