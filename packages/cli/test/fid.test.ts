import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { createOnnxBackend, encodeModel, GraphBuilder, onnxModel } from '@tessera/backend-onnx';
import { runCli } from '@tessera/cli';
import { TesseraError } from '@tessera/core';
import { crc32, domainFeatures, FeatureStats, frechetDistance, inceptionFeatures } from '@tessera/metrics';
import { digitsDataset, encodePng } from '@tessera/reference';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../../../test-utils/random.ts';
import { decodePng } from '../src/fid.js';

/**
 * The CLI prints FID to 4 decimals; its features can differ from the library's in the last float32 bits
 * (another batch split), so the printed value is compared to the float64 one within the printing's
 * half unit plus that noise, not as a string (255.2530 was printed 255.2531).
 */
function expectFid(lines: string[], want: number, tag: string): void {
  const m = /FID: (-?[\d.]+)/.exec(lines.join('\n'));
  expect(m, `${tag}: no 'FID: ' line in ${JSON.stringify(lines)}`).not.toBeNull();
  expect(Math.abs(Number(m![1]) - want), `${tag}: printed ${m![1]}, want ${want}`).toBeLessThan(
    5e-5 + 1e-6 * Math.abs(want) + 1e-9,
  );
}

/** A stand-in for FID-Inception with its I/O: x [N, 3, 299, 299] → `out` = 100 · mean over H, W. */
function poolModel(out: string): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('float', ['batch', 3, 299, 299], 'x');
  // ×100 so that FIDs come out O(1) and four printed decimals discriminate.
  const m = g.op('Mul', [g.op('ReduceMean', [x, g.i64([2, 3])], { keepdims: 0 }), g.f(100)]);
  g.output(m, 'float', out, ['batch', 3]);
  return encodeModel({
    nodes: g.nodes,
    inputs: g.inputs,
    outputs: g.outputs,
    initializers: g.initializers,
    opset: 18,
  });
}

const seed = Number(process.env.TESSERA_TEST_SEED ?? (Date.now() * 7919) % 2 ** 31);
const tag = `(TESSERA_TEST_SEED=${seed})`;
const root = mkdtempSync(join(tmpdir(), 'tessera-fid-'));

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out, err };
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** An RGBA PNG whose rows use filters 0–4 in turn (the forward filters of the PNG spec). */
function filteredPng(px: Uint8Array, w: number, h: number): Uint8Array {
  const bpp = 4;
  const stride = w * bpp;
  const raw = new Uint8Array(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    const f = y % 5;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = px[y * stride + i]!;
      const a = i >= bpp ? px[y * stride + i - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = i >= bpp && y > 0 ? px[(y - 1) * stride + i - bpp]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const parts = [
    Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A stored (uncompressed) zip of .npy float64 arrays: an .npz as np.savez would write without ZIP64. */
function npz(arrays: Record<string, { shape: number[]; data: Float64Array }>): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [key, arr] of Object.entries(arrays)) {
    let header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${arr.shape.join(', ')}${arr.shape.length === 1 ? ',' : ''}), }`;
    while ((10 + header.length + 1) % 64 !== 0) header += ' ';
    header += '\n';
    const file = new Uint8Array(10 + header.length + arr.data.byteLength);
    file.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
    new DataView(file.buffer).setUint16(8, header.length, true);
    file.set(enc.encode(header), 10);
    file.set(new Uint8Array(arr.data.buffer), 10 + header.length);
    const name = enc.encode(`${key}.npy`);
    const crc = crc32(file);
    const local = new Uint8Array(30 + name.length + file.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, file.length, true);
    lv.setUint32(22, file.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(file, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, file.length, true);
    cv.setUint32(24, file.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((s, c) => s + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let o = 0;
  for (const p of [...locals, ...centrals, eocd]) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function writeFolder(name: string, images: Float32Array, n: number): { dir: string; grey: Float32Array } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const grey = new Float32Array(n * 256);
  for (let i = 0; i < n; i++) {
    const px = new Uint8Array(256);
    for (let p = 0; p < 256; p++) {
      px[p] = Math.round((images[i * 256 + p]! + 1) * 127.5);
      grey[i * 256 + p] = px[p]! / 127.5 - 1;
    }
    writeFileSync(join(dir, `img-${String(i).padStart(3, '0')}.png`), encodePng(px, 16, 16));
  }
  return { dir, grey };
}

describe('tessera fid', () => {
  it('decodes PNGs with every row filter, RGBA, exactly', () => {
    const r = rng(seed);
    const w = 7;
    const h = 11;
    const px = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256));
    const img = decodePng(filteredPng(px, w, h));
    expect([img.width, img.height, img.channels]).toEqual([w, h, 4]);
    expect(Array.from(img.pixels), tag).toEqual(Array.from(px));
    const grey = Uint8Array.from({ length: 30 }, () => Math.floor(r() * 256));
    expect(Array.from(decodePng(encodePng(grey, 5, 6)).pixels), tag).toEqual(Array.from(grey));
    expect(() => decodePng(new Uint8Array(20))).toThrow(TesseraError);
    const broken = filteredPng(px, w, h);
    broken[40] = broken[40]! ^ 0xff;
    expect(() => decodePng(broken)).toThrow(TesseraError);
  });

  it('FID/KID/PR of two folders; a folder against itself is 0 / 1 / 1', async () => {
    const a = writeFolder('a', digitsDataset({ count: 24, seed }).data, 24);
    const b = writeFolder('b', digitsDataset({ count: 20, seed: seed + 1, digits: [1, 7] }).data, 20);
    const r = await run(['fid', a.dir, b.dir, '--kid-subsets', '5']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const fa = new FeatureStats(64).add(domainFeatures(a.grey, [24, 1, 16, 16]));
    const fb = new FeatureStats(64).add(domainFeatures(b.grey, [20, 1, 16, 16]));
    const want = frechetDistance(fa, fb);
    expectFid(r.out, want, tag);
    expect(r.out.join('\n')).toContain('(5 subsets of 20)');
    const same = await run(['fid', a.dir, a.dir, '--kid-subsets', '2']);
    expect(same.out.join('\n')).toMatch(/FID: -?0\.0000/);
    expect(same.out.join('\n')).toContain('precision: 1.0000  recall: 1.0000');
  });

  it('--stats compares a folder with .npz statistics; bad input exits non-zero with one line', async () => {
    const a = writeFolder('c', digitsDataset({ count: 12, seed: seed + 2 }).data, 12);
    const r = rng(seed + 3);
    const mu = Float64Array.from({ length: 64 }, () => r());
    const sigma = Float64Array.from({ length: 64 * 64 }, (_, k) => (k % 65 === 0 ? 0.5 + r() : 0));
    const file = join(root, 'ref.npz');
    writeFileSync(file, npz({ mu: { shape: [64], data: mu }, sigma: { shape: [64, 64], data: sigma } }));
    const got = await run(['fid', a.dir, '--stats', file]);
    expect(got.err).toEqual([]);
    const want = frechetDistance(new FeatureStats(64).add(domainFeatures(a.grey, [12, 1, 16, 16])), {
      mu,
      sigma,
    });
    expectFid(got.out, want, tag);
    const small = join(root, 'small.npz');
    writeFileSync(
      small,
      npz({
        mu: { shape: [3], data: new Float64Array(3) },
        sigma: { shape: [3, 3], data: new Float64Array(9) },
      }),
    );
    const bad = await run(['fid', a.dir, '--stats', small]);
    expect(bad.code).toBe(1);
    expect(bad.err).toEqual(['tessera: fid: the statistics have dimension 3, the domain features 64']);
    expect((await run(['fid'])).code).toBe(2);
    expect((await run(['fid', join(root, 'nope'), a.dir])).err[0]).toMatch(/cannot read folder/);
    expect((await run(['fid', '--help'])).out[0]).toMatch(/^Usage: tessera fid/);
  });

  it('--model runs an ONNX feature model with pytorch-fid preprocessing; a wrong output name fails clearly', async () => {
    const a = writeFolder('m-a', digitsDataset({ count: 10, seed: seed + 4 }).data, 10);
    const b = writeFolder('m-b', digitsDataset({ count: 9, seed: seed + 5 }).data, 9);
    const good = join(root, 'pool.onnx');
    writeFileSync(good, poolModel('pool3'));
    const got = await run(['fid', a.dir, b.dir, '--model', good, '--kid-subsets', '2']);
    expect(got.err).toEqual([]);
    expect(got.out[0]).toContain('(model features, 3-d)');
    // The same through the library: grey PNGs become RGB in [0, 1] (replicated channels).
    const backend = await createOnnxBackend({ ort, executionProviders: ['cpu'] });
    const model = await onnxModel(poolModel('pool3'), { backend });
    const feats = async (grey: Float32Array, n: number, resize: 'bilinear' | 'clean' = 'bilinear') => {
      const rgb = new Float32Array(n * 3 * 256);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < 3; c++)
          for (let p = 0; p < 256; p++) rgb[(i * 3 + c) * 256 + p] = (grey[i * 256 + p]! + 1) / 2;
      const x = backend.tensor(rgb, [n, 3, 16, 16]);
      const f = await inceptionFeatures(model, x, { resize });
      x.dispose();
      return new FeatureStats(3).add(f);
    };
    const want = frechetDistance(await feats(a.grey, 10), await feats(b.grey, 9));
    const wantClean = frechetDistance(await feats(a.grey, 10, 'clean'), await feats(b.grey, 9, 'clean'));
    await model.dispose();
    backend.destroy?.();
    expectFid(got.out, want, tag);
    const clean = await run([
      'fid',
      a.dir,
      b.dir,
      '--model',
      good,
      '--kid-subsets',
      '2',
      '--resize',
      'clean',
    ]);
    expect(clean.code).toBe(0);
    expectFid(clean.out, wantClean, tag);
    expect((await run(['fid', a.dir, b.dir, '--model', good, '--resize', 'nearest'])).code).toBe(2);
    const bad = join(root, 'bad.onnx');
    writeFileSync(bad, poolModel('features'));
    const r = await run(['fid', a.dir, b.dir, '--model', bad]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/no output 'pool3'; its outputs are \[features\]/);
  });
});
