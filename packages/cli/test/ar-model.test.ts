// `tessera export-model --kind raster|next-scale|masked` and `tessera generate ar --model FILE.onnx`: the
// exported file records its kind, and decoding with it gives the tokens (and PNG bytes) of the in-process
// reference model on the same backend (the ONNX backend, where both can run) with the same seed and
// flags; wrong kind, wrong backend, missing and corrupt files fail with one line and the CLI's exit codes.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelHeader } from '@tessera/backend-onnx';
import {
  arDataset,
  DECODERS,
  type DecoderName,
  generateAr,
  loadOnnxTokenModel,
  runCli,
  selectBackend,
} from '@tessera/cli';
import type { Backend, Tensor } from '@tessera/core';
import { VAR_PATCH_NUMS } from '@tessera/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
const note = `TESSERA_TEST_SEED=${seed}`;
/** A small LCG on the test seed: flags and corrupt bytes differ from run to run, reproducibly. */
let state = seed >>> 0;
const u = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const ri = (k: number) => Math.floor(u() * k);

const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-ar-'));
const file = (kind: DecoderName) => join(dir, `ar-${kind}.onnx`);

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

/** Checks one line on stderr, no stack trace, the exit code, and that it names each of `parts`. */
function expectOneLine(r: { code: number; err: string[] }, code: number, parts: string[], what: string) {
  expect(r.code, `${what} (${note})`).toBe(code);
  expect(r.err, what).toHaveLength(1);
  expect(r.err[0]).toMatch(/^tessera: /);
  expect(r.err[0]).not.toMatch(/\n|\s+at\s/);
  for (const p of parts) expect(r.err[0], what).toContain(p);
}

let onnx: Backend;
beforeAll(async () => {
  for (const kind of DECODERS) {
    const r = await run(['export-model', '--kind', kind, '--out', file(kind)]);
    expect([r.code, ...r.err]).toEqual([0]);
  }
  onnx = await selectBackend('onnx');
});
afterAll(async () => {
  await (onnx as { dispose?: () => Promise<void> }).dispose?.();
});

describe('tessera export-model --kind', () => {
  const data = arDataset();
  it.each([
    ['raster', 'RasterCountModel', 256],
    ['next-scale', 'ScaleCountModel', 680],
    ['masked', 'MaskedCountModel', 256],
  ] as const)(
    '%s: the file records its kind, model, sizes and classes; its adapter loads it',
    async (kind, model, L) => {
      const meta = readModelHeader(new Uint8Array(readFileSync(file(kind))))?.metadata;
      expect(meta?.['tessera.kind']).toBe(kind);
      expect(meta?.['tessera.model']).toBe(model);
      expect(meta?.['tessera.vocab_size']).toBe(String(data.vocabSize));
      expect(meta?.['tessera.length']).toBe(String(L));
      expect(meta?.['tessera.num_classes']).toBe(String(data.numClasses));
      if (kind === 'next-scale') {
        expect(meta?.['tessera.patch_nums']).toBe(VAR_PATCH_NUMS.join(','));
        expect(VAR_PATCH_NUMS.reduce((a, p) => a + p * p, 0)).toBe(L);
      }
      // with no decoder given, the loader picks the adapter of the recorded kind
      const m = await loadOnnxTokenModel(file(kind), onnx);
      expect(m.kind).toBe(kind);
      expect([m.model.vocabSize, m.model.length, m.model.numClasses]).toEqual([
        data.vocabSize,
        L,
        data.numClasses,
      ]);
      await m.model.dispose();
    },
  );

  it('writes out/ar-<kind>.onnx by default, and digits (out/default-digits.onnx) without --kind', async () => {
    const cwd = process.cwd();
    const here = mkdtempSync(join(tmpdir(), 'tessera-cli-cwd-'));
    process.chdir(here);
    try {
      const r = await run(['export-model', '--kind', 'masked']);
      expect([r.code, ...r.err]).toEqual([0]);
      expect(r.out[0]).toContain('out/ar-masked.onnx');
      expect(r.out[0]).toContain('logits [N, 256, 3]');
      const bytes = new Uint8Array(readFileSync(join(here, 'out/ar-masked.onnx')));
      expect(readModelHeader(bytes)?.metadata['tessera.kind']).toBe('masked');
      // fitting is deterministic: the default-path export is the same file as the one written above
      expect(Buffer.compare(Buffer.from(bytes), readFileSync(file('masked')))).toBe(0);
      const d = await run(['export-model']);
      expect([d.code, ...d.err]).toEqual([0]);
      expect(existsSync(join(here, 'out/default-digits.onnx'))).toBe(true);
      expect(existsSync(join(here, 'out/ar-next-scale.onnx'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects an unknown kind with exit code 2', async () => {
    expectOneLine(
      await run(['export-model', '--kind', 'pixels', '--out', join(dir, 'x.onnx')]),
      2,
      ['--kind', 'pixels'],
      'kind',
    );
    expect(existsSync(join(dir, 'x.onnx'))).toBe(false);
  });
});

async function tokensOf(ts: Tensor[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const t of ts) {
    out.push(Array.from(await t.data()));
    t.dispose();
  }
  return out;
}

describe(`generate ar --model gives the in-process model's tokens on the same backend (${note})`, () => {
  // Both paths run on the ONNX backend (the decoder keeps its buffers next to the ONNX model, so --model
  // needs it, and the in-process reference model runs there too): same seed, same sampling ops, and the
  // exported logits are the reference model's float32 table entries, so the tokens must be identical.
  for (const kind of DECODERS) {
    it(`${kind}: same PNG bytes from the CLI, same token grids (every scale) from generateAr`, async () => {
      const s = seed + DECODERS.indexOf(kind);
      const label = ri(3);
      const flags = [
        '--seed',
        String(s),
        '--count',
        String(2 + ri(2)),
        '--zoom',
        '1',
        ...(kind === 'masked' ? ['--iters', String(4 + ri(8))] : []),
      ];
      const guided = [
        ...flags,
        '--label',
        String(label),
        '--guidance',
        '2',
        '--top-k',
        '2',
        '--temperature',
        '0.9',
      ];
      for (const [i, f] of [flags, guided].entries()) {
        const what = `${kind} ${f.join(' ')} (${note})`;
        const a = join(dir, `${kind}-${i}-ts.png`);
        const b = join(dir, `${kind}-${i}-onnx.png`);
        // the reference model by name: on ONNX Runtime the default is the decoder's trained network
        const ts = await run([
          'generate',
          'ar',
          '--backend',
          'onnx',
          '--model',
          'reference',
          '--decoder',
          kind,
          ...f,
          '--out',
          a,
        ]);
        // no --decoder: the file's recorded kind picks it; no --backend: --model implies onnx
        const ox = await run(['generate', 'ar', '--model', file(kind), ...f, '--out', b]);
        expect([ts.code, ox.code, ...ts.err, ...ox.err], what).toEqual([0, 0]);
        expect(ox.out[0], what).toContain(`${kind} decoder (${file(kind)})`);
        expect(ox.out[0], what).toContain('on onnx');
        const calls = (l: string) => l.match(/(\d+) model calls/)?.[1];
        expect(calls(ox.out[0]!), what).toBe(calls(ts.out[0]!));
        expect(Buffer.compare(readFileSync(a), readFileSync(b)), what).toBe(0);
      }

      // plain sampling over 8 images (labels cycling): with guidance 2 the raster model often draws blank
      // (all-background) grids, which would make the comparison weak; the CLI runs above cover guidance
      const job = {
        backend: onnx,
        decoder: kind,
        seed: s,
        count: 8,
        guidance: 1,
        sampling: { temperature: 1, topK: 0, topP: 1 },
        // --iters applies to the masked decoder only (a UsageError with the others)
        ...(kind === 'masked' ? { numIter: 6 } : {}),
      };
      const want = await generateAr(job);
      const got = await generateAr({ ...job, model: file(kind) });
      expect([got.decoder, got.modelCalls, got.side, got.vocabSize]).toEqual([
        want.decoder,
        want.modelCalls,
        want.side,
        want.vocabSize,
      ]);
      const w = await tokensOf([...(want.scales ?? []), want.tokens]);
      const g = await tokensOf([...(got.scales ?? []), got.tokens]);
      expect(g.length, note).toBe(kind === 'next-scale' ? VAR_PATCH_NUMS.length : 1);
      expect(g, `${kind} tokens (${note})`).toEqual(w);
      // not vacuous: 8 grids of 16·16 tokens, not all background (each image is blank with probability
      // below 0.1 under plain sampling, so all 8 blank would point at a broken decode)
      expect(w.at(-1)!.length).toBe(8 * 256);
      expect(new Set(w.at(-1)).size, note).toBeGreaterThan(1);
    });
  }
});

describe('generate ar --model errors', () => {
  it('a file whose kind differs from --decoder: exit 2 naming the file, its kind and the flag', async () => {
    for (const kind of DECODERS) {
      const other = DECODERS[(DECODERS.indexOf(kind) + 1 + ri(2)) % 3]!;
      const r = await run([
        'generate',
        'ar',
        '--model',
        file(kind),
        '--decoder',
        other,
        '--out',
        join(dir, 'no.png'),
      ]);
      expectOneLine(r, 2, [file(kind), `is a ${kind} model`, `--decoder is ${other}`], `${kind} vs ${other}`);
    }
    expect(existsSync(join(dir, 'no.png'))).toBe(false);
  });

  it('a backend other than onnx: exit 2; a label beyond the model classes: exit 2', async () => {
    for (const b of ['cpu', 'webgpu'])
      expectOneLine(
        await run(['generate', 'ar', '--model', file('raster'), '--backend', b]),
        2,
        ['--backend onnx', b],
        b,
      );
    expectOneLine(
      await run(['generate', 'ar', '--model', file('masked'), '--label', '3']),
      2,
      ['--label', '0..2'],
      'label',
    );
  });

  it('a missing file, corrupt bytes, a truncated export, a diffusion model: exit 1 naming the file', async () => {
    const missing = join(dir, 'missing.onnx');
    expectOneLine(await run(['generate', 'ar', '--model', missing]), 1, ['missing.onnx'], 'missing');
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(
      corrupt,
      Uint8Array.from({ length: 16 + ri(64) }, () => ri(256)),
    );
    expectOneLine(
      await run(['generate', 'ar', '--model', corrupt]),
      1,
      ['corrupt.onnx'],
      `corrupt (${note})`,
    );
    const full = readFileSync(file('next-scale'));
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, full.subarray(0, 100 + ri(full.length / 2)));
    expectOneLine(
      await run(['generate', 'ar', '--model', truncated, '--decoder', 'next-scale']),
      1,
      ['truncated.onnx'],
      `truncated (${note})`,
    );
    const digits = join(dir, 'digits.onnx');
    expect((await run(['export-model', '--out', digits])).code).toBe(0);
    expectOneLine(
      await run(['generate', 'ar', '--model', digits]),
      1,
      ['digits.onnx', 'tokens'],
      'digits model',
    );
  });
});
