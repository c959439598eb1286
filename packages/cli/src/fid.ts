/**
 * `tessera fid DIR_A [DIR_B] [--stats FILE.npz]`: FID (and KID, precision/recall) between two PNG
 * folders, or between a folder and reference statistics, on the domain feature extractor.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inflateSync } from 'node:zlib';
import { TesseraError } from '@tessera/core';
import {
  DOMAIN_FEATURE_DIM,
  domainFeatures,
  FeatureStats,
  type FrechetInput,
  frechetDistanceAsync,
  inceptionFeatures,
  kernelInceptionDistanceAsync,
  loadReferenceStats,
  precisionRecall,
} from '@tessera/metrics';
import { loadOrt } from './backends.js';
import { choiceFlag, intFlag, UsageError } from './errors.js';

/** Help text of `tessera fid`. */
export const FID_HELP = `Usage: tessera fid DIR_A [DIR_B] [options]

Fréchet distance (FID) between the PNG images of two folders, on the domain feature extractor
(${DOMAIN_FEATURE_DIM} fixed random ReLU features of the 16×16 channel-mean image; sizes must be multiples of 16).
With two folders it also prints KID (unbiased MMD², cubic kernel) and precision/recall (k = 3).

  --model FILE.onnx         use an FID-InceptionV3 ONNX model (models/inception/convert.py writes one from
                            pytorch-fid's weights): 2048-d pool3 features, pytorch-fid's preprocessing
                            (bilinear resize to 299, RGB in [-1, 1]), run by ONNX Runtime
  --resize MODE             with --model: bilinear (pytorch-fid, default) or clean (clean-fid's PIL bicubic)
  --stats FILE.npz          compare DIR_A with reference statistics (arrays mu, sigma) instead of DIR_B,
                            e.g. pytorch-fid's with --model; they must come from the same features
  --kid-subsets N           KID subsets (default 100)
  --kid-subset-size N       rows per KID subset (default min(1000, smallest folder))
  --seed N                  seed of the KID subset draws (default 0)`;

/** A decoded PNG: 8-bit samples, `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Decodes a non-interlaced PNG with 8- or 16-bit samples (16-bit keeps the high byte), colour types
 * grey, RGB, palette, grey+alpha and RGBA, all five row filters. Anything else is a TesseraError.
 */
export function decodePng(bytes: Uint8Array, name = 'PNG'): DecodedPng {
  const bad = (what: string) => new TesseraError('CORRUPT_FILE', `decodePng: ${name}: ${what}`);
  if (bytes.length < 8 || SIGNATURE.some((s, i) => bytes[i] !== s)) throw bad('not a PNG (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colour = -1;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  for (;;) {
    if (p + 8 > bytes.length) throw bad('truncated chunk');
    const len = view.getUint32(p);
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    const body = bytes.subarray(p + 8, p + 8 + len);
    if (body.length !== len) throw bad(`chunk ${type} runs past the end`);
    p += 12 + len;
    if (type === 'IHDR') {
      if (len < 13) throw bad('IHDR too short');
      const hv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      width = hv.getUint32(0);
      height = hv.getUint32(4);
      depth = body[8]!;
      colour = body[9]!;
      if (body[12] !== 0)
        throw new TesseraError('UNSUPPORTED', `decodePng: ${name}: interlaced PNGs are not supported`);
      if ((depth !== 8 && depth !== 16) || CHANNELS[colour] === undefined || (colour === 3 && depth !== 8)) {
        throw new TesseraError(
          'UNSUPPORTED',
          `decodePng: ${name}: 8- or 16-bit grey/RGB/palette/alpha expected, got depth ${depth}, colour type ${colour}`,
        );
      }
    } else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
  }
  if (width < 1 || height < 1) throw bad('missing IHDR');
  const ch = CHANNELS[colour]!;
  const bpp = (ch * depth) / 8;
  const stride = width * bpp;
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(Buffer.concat(idat)));
  } catch (cause) {
    throw new TesseraError('CORRUPT_FILE', `decodePng: ${name}: image data does not inflate`, { cause });
  }
  if (raw.length < height * (stride + 1)) throw bad(`image data too short for ${width}×${height}`);
  const cur = new Uint8Array(stride);
  const prev = new Uint8Array(stride);
  const outCh = colour === 3 ? 3 : ch;
  const pixels = new Uint8Array(width * height * outCh);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const filter = raw[o]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[o + 1 + i]!;
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let v: number;
      if (filter === 0) v = x;
      else if (filter === 1) v = x + a;
      else if (filter === 2) v = x + b;
      else if (filter === 3) v = x + ((a + b) >> 1);
      else if (filter === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      } else throw bad(`row ${y} has unknown filter ${filter}`);
      cur[i] = v & 0xff;
    }
    for (let xx = 0; xx < width; xx++) {
      for (let k = 0; k < ch; k++) {
        const s = cur[(xx * ch + k) * (depth / 8)]!; // 16-bit: high byte first
        if (colour === 3) {
          if (!palette || 3 * s + 2 >= palette.length) throw bad(`palette index ${s} out of range`);
          for (let q = 0; q < 3; q++) pixels[(y * width + xx) * 3 + q] = palette[3 * s + q]!;
        } else pixels[(y * width + xx) * ch + k] = s;
      }
    }
    prev.set(cur);
  }
  return { width, height, channels: outCh, pixels };
}

/** Channel-mean grey image in [−1, 1] (alpha ignored), `height·width` values. */
function toGrey(img: DecodedPng): Float32Array {
  const { width, height, channels, pixels } = img;
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  const out = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    let s = 0;
    for (let k = 0; k < colour; k++) s += pixels[i * channels + k]!;
    out[i] = s / colour / 127.5 - 1;
  }
  return out;
}

/** RGB planes in [0, 1] (grey replicated, alpha ignored), `3·height·width` values. */
function toRgb01(img: DecodedPng): Float32Array {
  const { width, height, channels, pixels } = img;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const src = channels >= 3 ? c : 0;
      out[c * plane + i] = pixels[i * channels + src]! / 255;
    }
  }
  return out;
}

/**
 * Reads every `.png` of `dir` (sorted by name): as channel-mean grey images in [−1, 1] `[N, 1, H, W]`
 * (default), or with `rgb` as RGB in [0, 1] `[N, 3, H, W]`. All images must share one size.
 */
export async function loadPngFolder(
  dir: string,
  onProgress?: (done: number, total: number) => void,
  rgb = false,
): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.png')).sort();
  } catch (cause) {
    throw new TesseraError('FILE_NOT_FOUND', `fid: cannot read folder '${dir}'`, { cause });
  }
  if (names.length === 0) throw new TesseraError('FILE_NOT_FOUND', `fid: no .png files in '${dir}'`);
  let h = 0;
  let w = 0;
  let data = new Float32Array(0);
  for (const [i, f] of names.entries()) {
    const img = decodePng(new Uint8Array(await readFile(join(dir, f))), join(dir, f));
    if (i === 0) {
      h = img.height;
      w = img.width;
      data = new Float32Array(names.length * (rgb ? 3 : 1) * h * w);
    } else if (img.height !== h || img.width !== w) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `fid: every image in '${dir}' should be ${w}×${h} like ${names[0]}, but ${f} is ${img.width}×${img.height}`,
      );
    }
    if (rgb) data.set(toRgb01(img), i * 3 * h * w);
    else data.set(toGrey(img), i * h * w);
    onProgress?.(i + 1, names.length);
  }
  return { data, shape: [names.length, rgb ? 3 : 1, h, w] };
}

/** What {@link runFid} computed. */
export interface FidReport {
  fid: number;
  /** Feature dimension. */
  dim: number;
  countA: number;
  countB?: number;
  kid?: { mean: number; std: number; subsets: number; subsetSize: number };
  precision?: number;
  recall?: number;
}

/** Options of {@link runFid}. */
export interface FidOptions {
  dirA: string;
  dirB?: string;
  /** Bytes of an `.npz` with `mu` and `sigma` (instead of dirB). */
  stats?: Uint8Array;
  /** Path of an FID-InceptionV3 ONNX model (default: the domain features). */
  model?: string;
  /** Resize mode of the model path (default `bilinear`, pytorch-fid's). */
  resize?: 'bilinear' | 'clean';
  kidSubsets?: number;
  kidSubsetSize?: number;
  seed?: number;
  onProgress?: (label: string, done: number, total: number) => void;
}

/** FID between two PNG folders (plus KID and precision/recall), or between a folder and `.npz` statistics. */
export async function runFid(o: FidOptions): Promise<FidReport> {
  const extractor = o.model ? await inceptionExtractor(o.model, o.resize ?? 'bilinear') : null;
  try {
    return await measureFolders(o, extractor);
  } finally {
    await extractor?.close();
  }
}

interface Extractor {
  features(data: Float32Array, shape: [number, number, number, number]): Promise<Float64Array>;
  close(): Promise<void>;
}

async function inceptionExtractor(path: string, resize: 'bilinear' | 'clean'): Promise<Extractor> {
  const ort = await loadOrt();
  const { createOnnxBackend, onnxModel } = await import('@tessera/backend-onnx');
  const backend = await createOnnxBackend({ ort, executionProviders: ['cpu'] });
  const model = await onnxModel(path, { backend, name: path });
  return {
    async features(data, shape) {
      const x = backend.tensor(data, shape);
      try {
        return await inceptionFeatures(model, x, { resize });
      } finally {
        x.dispose();
      }
    },
    async close() {
      await model.dispose();
      backend.destroy?.();
    },
  };
}

async function measureFolders(o: FidOptions, extractor: Extractor | null): Promise<FidReport> {
  const featuresOf = async (dir: string) => {
    const imgs = await loadPngFolder(dir, (d, t) => o.onProgress?.(dir, d, t), !!extractor);
    const rows = extractor
      ? await extractor.features(imgs.data, imgs.shape)
      : domainFeatures(imgs.data, imgs.shape);
    return { rows, n: imgs.shape[0] };
  };
  const a = await featuresOf(o.dirA);
  const dim = a.rows.length / a.n;
  const statsA = new FeatureStats(dim).add(a.rows);
  if (a.n < 2) throw new TesseraError('OUT_OF_RANGE', `fid: '${o.dirA}' needs at least 2 images, got ${a.n}`);
  if (o.stats) {
    const ref = await loadReferenceStats(o.stats, { source: 'stats' });
    if (ref.dim !== dim) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `fid: the statistics have dimension ${ref.dim}, the ${extractor ? 'Inception' : 'domain'} features ${dim}`,
      );
    }
    return { fid: (await frechetDistanceAsync(statsA, ref as FrechetInput)).distance, dim, countA: a.n };
  }
  if (!o.dirB) throw new UsageError('fid needs DIR_B or --stats FILE.npz');
  const b = await featuresOf(o.dirB);
  if (b.n < 2) throw new TesseraError('OUT_OF_RANGE', `fid: '${o.dirB}' needs at least 2 images, got ${b.n}`);
  const statsB = new FeatureStats(dim).add(b.rows);
  const fid = (await frechetDistanceAsync(statsA, statsB)).distance;
  const report: FidReport = { fid, dim, countA: a.n, countB: b.n };
  const subsetSize = o.kidSubsetSize ?? Math.min(1000, a.n, b.n);
  const subsets = o.kidSubsets ?? 100;
  const fa = { data: a.rows, dim };
  const fb = { data: b.rows, dim };
  const kid = await kernelInceptionDistanceAsync(fa, fb, {
    subsets,
    subsetSize,
    seed: o.seed ?? 0,
    onProgress: (d, t) => o.onProgress?.('KID subsets', d, t),
  });
  report.kid = { mean: kid.mean, std: kid.std, subsets, subsetSize };
  if (a.n > 3 && b.n > 3) {
    const pr = precisionRecall(fa, fb);
    report.precision = pr.precision;
    report.recall = pr.recall;
  }
  return report;
}

function progressBar(): (label: string, done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => {};
  return (label, done, total) => {
    const w = 30;
    const full = Math.round((done / total) * w);
    process.stderr.write(
      `\r  ${label.slice(-28).padEnd(28)} [${'#'.repeat(full)}${'.'.repeat(w - full)}] ${done}/${total}`,
    );
    if (done === total) process.stderr.write('\n');
  };
}

/** The `tessera fid` command. */
export async function cmdFid(args: string[], out: (line: string) => void): Promise<void> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: {
        stats: { type: 'string' },
        model: { type: 'string' },
        resize: { type: 'string' },
        'kid-subsets': { type: 'string' },
        'kid-subset-size': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/^Unknown option/, 'unknown option'));
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return out(FID_HELP);
  const [dirA, dirB, ...extra] = parsed.positionals;
  if (!dirA) throw new UsageError('fid needs a folder of PNG images');
  if (extra.length) throw new UsageError(`fid takes at most two folders, got also '${extra[0]}'`);
  if (dirB && v.stats) throw new UsageError('fid takes DIR_B or --stats, not both');
  let stats: Uint8Array | undefined;
  if (typeof v.stats === 'string') {
    try {
      stats = new Uint8Array(await readFile(v.stats));
    } catch (cause) {
      throw new TesseraError('FILE_NOT_FOUND', `fid: cannot read statistics file '${v.stats}'`, { cause });
    }
  }
  const r = await runFid({
    dirA,
    dirB,
    stats,
    model: typeof v.model === 'string' ? v.model : undefined,
    resize: choiceFlag('resize', v.resize as string | undefined, ['bilinear', 'clean'] as const, 'bilinear'),
    kidSubsets: intFlag('kid-subsets', v['kid-subsets'] as string | undefined, 100, 1),
    kidSubsetSize:
      v['kid-subset-size'] === undefined
        ? undefined
        : intFlag('kid-subset-size', v['kid-subset-size'] as string, 0, 2),
    seed: intFlag('seed', v.seed as string | undefined, 0),
    onProgress: progressBar(),
  });
  const feats = `${typeof v.model === 'string' ? 'model' : 'domain'} features, ${r.dim}-d`;
  out(`images: ${r.countA}${r.countB === undefined ? '' : ` vs ${r.countB}`} (${feats})`);
  out(`FID: ${r.fid.toFixed(4)}`);
  if (r.kid)
    out(
      `KID: ${r.kid.mean.toExponential(4)} ± ${r.kid.std.toExponential(2)} (${r.kid.subsets} subsets of ${r.kid.subsetSize})`,
    );
  if (r.precision !== undefined)
    out(`precision: ${r.precision.toFixed(4)}  recall: ${r.recall!.toFixed(4)} (k = 3)`);
}
