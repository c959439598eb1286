/**
 * A tiny PNG encoder (8-bit grey, RGB or RGBA; filter 0), plus a helper that tiles [-1, 1] images into
 * one grid. Compresses with node:zlib when running in Node; elsewhere it writes stored (uncompressed)
 * deflate blocks, which every PNG reader accepts.
 */
import { TesseraError } from '@tessera/core';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG and zlib use it). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

type Deflate = (b: Uint8Array) => Uint8Array;

function nodeDeflate(): Deflate | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { deflateSync?: Deflate } | undefined;
  return zlib?.deflateSync ? (b) => new Uint8Array(zlib.deflateSync!(b)) : undefined;
}

/** zlib stream of stored deflate blocks (no compression). */
function storedZlib(b: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(b.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + b.length + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = b.subarray(i * 65535, Math.min(b.length, (i + 1) * 65535));
    out[o++] = i === blocks - 1 ? 1 : 0;
    out[o++] = chunk.length & 0xff;
    out[o++] = chunk.length >>> 8;
    out[o++] = ~chunk.length & 0xff;
    out[o++] = (~chunk.length >>> 8) & 0xff;
    out.set(chunk, o);
    o += chunk.length;
  }
  let a = 1;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]!) % 65521;
    s = (s + a) % 65521;
  }
  new DataView(out.buffer).setUint32(o, ((s << 16) | a) >>> 0);
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/**
 * Encodes 8-bit pixels as a PNG file. The channel count follows from the length: `w·h` grey,
 * `3·w·h` RGB, `4·w·h` RGBA (row-major, channels interleaved).
 */
export function encodePng(pixels: ArrayLike<number>, width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `encodePng: width and height must be positive integers, got ${width}×${height}`,
    );
  }
  const channels = pixels.length / (width * height);
  const colorType = { 1: 0, 3: 2, 4: 6 }[channels];
  if (colorType === undefined) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `encodePng: expected ${width * height}, ${3 * width * height} or ${4 * width * height} values (grey, RGB, RGBA), got ${pixels.length}`,
    );
  }
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < stride; i++)
      raw[y * (stride + 1) + 1 + i] = Math.min(255, Math.max(0, Math.round(pixels[y * stride + i]!)));
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const idat = (nodeDeflate() ?? storedZlib)(raw);
  const parts = [
    Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Tiles `[N, C, H, W]` images with values in [-1, 1] (C = 1 or 3) into one 8-bit grid, `cols` per row,
 * `pad` pixels of `background` (0–255) between tiles, each image pixel drawn as a `scale`×`scale`
 * block (default 1). Returns pixels ready for {@link encodePng}.
 */
export function imageGrid(
  data: ArrayLike<number>,
  shape: readonly number[],
  options: { cols?: number; pad?: number; background?: number; scale?: number } = {},
): { pixels: Uint8Array; width: number; height: number } {
  if (shape.length !== 4 || (shape[1] !== 1 && shape[1] !== 3)) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `imageGrid: expected shape [N, 1 | 3, H, W], got [${shape.join(', ')}]`,
    );
  }
  const [N, C, H0, W0] = shape as [number, number, number, number];
  const sc = options.scale ?? 1;
  if (!Number.isInteger(sc) || sc < 1)
    throw new TesseraError('INVALID_ARGUMENT', `imageGrid: scale must be a positive integer, got ${sc}`);
  const H = H0 * sc;
  const W = W0 * sc;
  if (data.length !== N * C * H0 * W0)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `imageGrid: ${data.length} values do not fill [${shape.join(', ')}]`,
    );
  const cols = Math.max(1, Math.min(options.cols ?? Math.ceil(Math.sqrt(N)), N));
  const rows = Math.ceil(N / cols);
  const pad = options.pad ?? 1;
  const width = cols * W + (cols + 1) * pad;
  const height = rows * H + (rows + 1) * pad;
  const pixels = new Uint8Array(width * height * C).fill(options.background ?? 128);
  for (let n = 0; n < N; n++) {
    const ox = pad + (n % cols) * (W + pad);
    const oy = pad + Math.floor(n / cols) * (H + pad);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const v = data[((n * C + c) * H0 + Math.floor(y / sc)) * W0 + Math.floor(x / sc)]!;
          pixels[((oy + y) * width + ox + x) * C + c] = Math.round(
            Math.min(1, Math.max(-1, v)) * 127.5 + 127.5,
          );
        }
      }
    }
  }
  return { pixels, width, height };
}
