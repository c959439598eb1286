import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TesseraError } from '@tessera/core';
import {
  CLASSIFIER_DIGITS16_CARD,
  GPT_DIGITS16_CARD,
  loadDigitClassifier,
  loadDigitsGPT,
  loadDigitsUNet,
  loadDigitsVQ,
  MASKGIT_DIGITS16_CARD,
  MSVQ_DIGITS16_CARD,
  readVerified,
  sha256Hex,
  UNET_DIGITS16_CARD,
  UNET_DIGITS16_SCHEDULER_CONFIG,
  VAR_DIGITS16_CARD,
  VQ_DIGITS16_CARD,
} from '@tessera/models';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, MODELS_DIR, mulberry, onnxBackend, readModelJson, relErr } from './helpers.ts';

const seed = freshSeed();
const u = mulberry(seed);
const tmp = mkdtempSync(join(tmpdir(), 'tessera-models-'));
const B = onnxBackend();
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await B.dispose();
});

async function rejectsWith(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `seed ${seed}`).toBeInstanceOf(TesseraError);
  expect((err as TesseraError).code).toBe(code);
  expect((err as Error).message).toMatch(text);
}

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 vectors', async () => {
    // FIPS 180-2 appendix B.1 and B.2
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(
      await sha256Hex(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
    ).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  it('equals node:crypto on random bytes', async () => {
    const bytes = Uint8Array.from({ length: 1000 + Math.floor(u() * 5000) }, () => Math.floor(u() * 256));
    expect(await sha256Hex(bytes), `seed ${seed}`).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('cards', () => {
  it('compiled cards equal the cards the training scripts wrote', () => {
    expect(UNET_DIGITS16_CARD).toEqual(readModelJson('unet-digits16/card.json'));
    expect(UNET_DIGITS16_SCHEDULER_CONFIG).toEqual(readModelJson('unet-digits16/scheduler_config.json'));
    expect(CLASSIFIER_DIGITS16_CARD).toEqual(readModelJson('classifier-digits16/card.json'));
    expect(VQ_DIGITS16_CARD).toEqual(readModelJson('vq-digits16/card.json'));
    expect(GPT_DIGITS16_CARD).toEqual(readModelJson('gpt-digits16/card.json'));
    expect(MSVQ_DIGITS16_CARD).toEqual(readModelJson('msvq-digits16/card.json'));
    expect(VAR_DIGITS16_CARD).toEqual(readModelJson('var-digits16/card.json'));
    expect(MASKGIT_DIGITS16_CARD).toEqual(readModelJson('maskgit-digits16/card.json'));
  });

  it('checksums and sizes in the cards match the shipped files', () => {
    const cards = [
      UNET_DIGITS16_CARD,
      CLASSIFIER_DIGITS16_CARD,
      VQ_DIGITS16_CARD,
      GPT_DIGITS16_CARD,
      MSVQ_DIGITS16_CARD,
      VAR_DIGITS16_CARD,
      MASKGIT_DIGITS16_CARD,
    ];
    let total = 0;
    for (const card of cards) {
      for (const [file, entry] of Object.entries(card.files)) {
        const bytes = readFileSync(join(MODELS_DIR, card.name, file));
        expect(bytes.length, `${card.name}/${file}`).toBe(entry.bytes);
        expect(createHash('sha256').update(bytes).digest('hex'), `${card.name}/${file}`).toBe(entry.sha256);
        expect(bytes.length).toBeLessThanOrEqual(5 * 1024 * 1024);
        total += bytes.length;
      }
    }
    expect(total).toBeLessThanOrEqual(20 * 1024 * 1024);
  });
});

describe('readVerified', () => {
  const payload = Uint8Array.from({ length: 257 }, () => Math.floor(u() * 256));
  writeFileSync(join(tmp, 'blob.bin'), payload);
  const sum = createHash('sha256').update(payload).digest('hex');

  it('returns the bytes when the checksum matches (path and file URL)', async () => {
    expect(Array.from(await readVerified(tmp, 'blob.bin', sum))).toEqual(Array.from(payload));
    const url = new URL(`file://${tmp}/`);
    expect(Array.from(await readVerified(url, 'blob.bin', sum))).toEqual(Array.from(payload));
  });

  it('rejects a changed byte with CORRUPT_FILE naming both digests', async () => {
    const bad = payload.slice();
    const i = Math.floor(u() * bad.length);
    bad[i] = (bad[i]! + 1 + Math.floor(u() * 255)) % 256;
    writeFileSync(join(tmp, 'bad.bin'), bad);
    const got = createHash('sha256').update(bad).digest('hex');
    await rejectsWith(readVerified(tmp, 'bad.bin', sum), 'CORRUPT_FILE', new RegExp(`${sum}.*${got}`));
  });

  it('rejects a missing file with FILE_NOT_FOUND', async () => {
    await rejectsWith(readVerified(tmp, 'nope.bin', sum), 'FILE_NOT_FOUND', /nope\.bin/);
  });
});

describe('loaders verify their files', () => {
  it('a truncated U-Net and a classifier with one flipped byte are refused; a missing folder too', async () => {
    const unet = join(tmp, 'm1', 'unet-digits16');
    mkdirSync(unet, { recursive: true });
    const src = readFileSync(join(MODELS_DIR, 'unet-digits16', 'model.onnx'));
    writeFileSync(join(unet, 'model.onnx'), src.subarray(0, src.length - 1 - Math.floor(u() * 1000)));
    await rejectsWith(loadDigitsUNet({ backend: B, dir: join(tmp, 'm1') }), 'CORRUPT_FILE', /expected \d+/);

    const cls = join(tmp, 'm2', 'classifier-digits16');
    mkdirSync(cls, { recursive: true });
    const c = new Uint8Array(readFileSync(join(MODELS_DIR, 'classifier-digits16', 'model.onnx')));
    const i = Math.floor(u() * c.length);
    c[i] = c[i]! ^ (1 << Math.floor(u() * 8));
    writeFileSync(join(cls, 'model.onnx'), c);
    await rejectsWith(loadDigitClassifier({ backend: B, dir: join(tmp, 'm2') }), 'CORRUPT_FILE', /checksum/);

    await rejectsWith(
      loadDigitsUNet({ backend: B, dir: join(tmp, 'none') }),
      'FILE_NOT_FOUND',
      /model\.onnx/,
    );
    expect(B.memory().tensors).toBe(0);
  });

  it('a good copy elsewhere loads', async () => {
    const dir = join(tmp, 'm3', 'classifier-digits16');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(MODELS_DIR, 'classifier-digits16', 'model.onnx'), join(dir, 'model.onnx'));
    const C = await loadDigitClassifier({ backend: B, dir: join(tmp, 'm3') });
    expect(C.card.name).toBe('classifier-digits16');
    await C.dispose();
  });

  it('a backend that is not an OnnxBackend is refused', async () => {
    await rejectsWith(loadDigitsUNet({ backend: {} as never }), 'INVALID_ARGUMENT', /OnnxBackend/);
  });
});

describe('execution providers of one network', () => {
  it('a provider this ONNX Runtime does not offer, an empty list or a bad entry are refused', async () => {
    const offered = (ort.listSupportedBackends() as { name: string }[]).map((b) => b.name);
    // a made-up provider name that onnxruntime-node does not list
    const missing = `nosuch${Math.floor(u() * 1e6)}`;
    expect(offered).not.toContain(missing);
    await rejectsWith(
      loadDigitClassifier({ backend: B, executionProviders: [missing] }),
      'BACKEND_UNAVAILABLE',
      new RegExp(`'${missing}' is not offered.*available: ${offered.join(', ')}`),
    );
    await rejectsWith(
      loadDigitsUNet({ backend: B, executionProviders: [] }),
      'INVALID_ARGUMENT',
      /non-empty list/,
    );
    await rejectsWith(
      loadDigitsVQ({ backend: B, executionProviders: [{} as never] }),
      'INVALID_ARGUMENT',
      /name or \{ name \}.*index 0/,
    );
    await rejectsWith(
      loadDigitsGPT({ backend: B, sessionOptions: 3 as never }),
      'INVALID_ARGUMENT',
      /sessionOptions must be an object/,
    );
    expect(B.memory().tensors).toBe(0);
  });

  it("the backend's own provider named explicitly, with session options, gives the PyTorch outputs", async () => {
    const fx = readModelJson<{ pixel_values: number[]; shape: number[]; logits: number[] }>(
      'classifier-digits16/fixture.json',
    );
    const C = await loadDigitClassifier({
      backend: B,
      executionProviders: ['cpu'],
      sessionOptions: { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' },
    });
    const x = B.tensor(Float32Array.from(fx.pixel_values), fx.shape);
    const { logits, features } = await C.run(x);
    expect(relErr(await logits.data(), fx.logits)).toBeLessThan(1e-4);
    for (const t of [x, logits, features]) t.dispose();
    await C.dispose();
  });
});
