// Run control of the three token decoders on one backend (shared with backend-onnx's tests): an abort
// fired from a timer stops a long decode within one step; interleaved decodes each equal their solo
// run; callback(StepInfo) reports every step and the seed drawn when none is given; nothing leaks.
import {
  type MaskedTokenModel,
  maskedDecode,
  type NextScaleModel,
  type NextTokenModel,
  nextScaleDecode,
  rasterDecode,
} from '@tessera/autoregressive';
import { type Backend, dispose, type Tensor, TesseraError } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { freshSeed } from './helpers.js';

/** Busy-waits `ms` milliseconds: a stand-in for a model whose steps cost real time. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

function slowRaster<S>(m: NextTokenModel<S>, ms: number): NextTokenModel<S> {
  return {
    vocabSize: m.vocabSize,
    numClasses: m.numClasses,
    prefill: (p, o) => m.prefill(p, o),
    step: (t, s) => {
      spin(ms);
      return m.step(t, s);
    },
    disposeState: (s) => m.disposeState?.(s),
  };
}

function slowScales<S>(m: NextScaleModel<S>, ms: number): NextScaleModel<S> {
  return {
    vocabSize: m.vocabSize,
    numClasses: m.numClasses,
    patchNums: m.patchNums,
    begin: (o) => m.begin(o),
    next: (k, p, s) => {
      spin(ms);
      return m.next(k, p, s);
    },
    disposeState: (s) => m.disposeState?.(s),
  };
}

function slowMasked(m: MaskedTokenModel, ms: number): MaskedTokenModel {
  return {
    vocabSize: m.vocabSize,
    numClasses: m.numClasses,
    seqLen: m.seqLen,
    logits: (t, k, c) => {
      spin(ms);
      return m.logits(t, k, c);
    },
  };
}

/** Registers the decoder run-control tests for the backend `get()` returns (skipped when undefined). */
export function describeDecodeControl(label: string, get: () => Promise<Backend | undefined>): void {
  describe(`decoder run control (${label})`, async () => {
    const B = await get();
    const seed = freshSeed();
    const note = `(${label}, seed ${seed})`;
    const data = proceduralTokenGrids({ count: 20, height: 8, width: 8, seed: 3 });

    it.skipIf(!B)(
      'an abort from setTimeout stops each decoder within one step, freeing everything',
      async () => {
        const Bk = B!;
        const rm = RasterCountModel.fit(data, { backend: Bk });
        const sm = ScaleCountModel.fit(data, { patchNums: [1, 2, 3, 4, 5, 6, 7, 8], backend: Bk });
        const mm = MaskedCountModel.fit(data, { backend: Bk });
        const runs: Array<[string, number, (o: object) => Promise<unknown>]> = [
          ['rasterDecode', 64, (o) => rasterDecode(slowRaster(rm, 4), { batch: 2, length: 64, ...o })],
          ['nextScaleDecode', 8, (o) => nextScaleDecode(slowScales(sm, 40), { batch: 2, ...o })],
          ['maskedDecode', 40, (o) => maskedDecode(slowMasked(mm, 6), { batch: 2, numIter: 40, ...o })],
        ];
        for (const [name, total, run] of runs) {
          const before = Bk.memory().tensors;
          const ac = new AbortController();
          const done: number[] = [];
          let doneAtAbort = -1;
          ac.signal.addEventListener('abort', () => {
            doneAtAbort = done.length;
          });
          const timer = setTimeout(() => ac.abort(new Error('user cancelled')), 60);
          const err = await run({
            seed,
            backend: Bk,
            signal: ac.signal,
            callback: ({ step }: { step: number }) => {
              done.push(step);
            },
          }).then(
            (r) => {
              dispose(r);
              return undefined;
            },
            (e: unknown) => e,
          );
          clearTimeout(timer);
          expect(
            doneAtAbort,
            `${name}: the timer fired only after the decode ${note}`,
          ).toBeGreaterThanOrEqual(0);
          expect(doneAtAbort, `${name}: finished before the abort ${note}`).toBeLessThan(total);
          expect(err, `${name} ${note}`).toBeInstanceOf(TesseraError);
          expect((err as TesseraError).code).toBe('ABORTED');
          expect((err as TesseraError).cause).toEqual(new Error('user cancelled'));
          // Steps finished after the abort fired: at most the one that was running.
          expect(done.length - doneAtAbort, `${name} ran on after the abort ${note}`).toBeLessThanOrEqual(1);
          expect(Bk.memory().tensors, `${name} leaked after abort ${note}`).toBe(before);
        }
        rm.dispose();
        sm.dispose();
        mm.dispose();
      },
    );

    it.skipIf(!B)('interleaved decodes equal their solo runs; the default seed is reported', async () => {
      const Bk = B!;
      const rm = RasterCountModel.fit(data, { backend: Bk });
      const mm = MaskedCountModel.fit(data, { backend: Bk });
      const read = async (t: Tensor | Tensor[]) => {
        const list = Array.isArray(t) ? t : [t];
        const v = (await Promise.all(list.map((x) => x.array()))).flat();
        dispose(list);
        return v;
      };
      const decode = (k: number, s: number) =>
        k % 2 === 0
          ? rasterDecode(rm, { batch: 2, length: 64, seed: s, backend: Bk, sampling: { topK: 3 } })
          : maskedDecode(mm, { batch: 2, numIter: 12, seed: s, backend: Bk });
      const before = Bk.memory().tensors;
      const solo: number[][] = [];
      for (let k = 0; k < 4; k++) solo.push(await read(await decode(k, seed + k)));
      const together = await Promise.all([0, 1, 2, 3].map(async (k) => read(await decode(k, seed + k))));
      for (let k = 0; k < 4; k++) expect(together[k], `decode ${k} ${note}`).toEqual(solo[k]);
      // No seed: a fresh one per call, reported to the callback; passing it back reproduces the tokens.
      const seen: number[] = [];
      const steps: number[] = [];
      const first = await read(
        await rasterDecode(rm, {
          batch: 2,
          length: 64,
          backend: Bk,
          callback: (i) => {
            seen.push(i.seed);
            steps.push(i.step);
            expect(i.total).toBe(64);
          },
        }),
      );
      expect(steps).toEqual(Array.from({ length: 64 }, (_, i) => i));
      expect(new Set(seen).size).toBe(1);
      const again = await read(await rasterDecode(rm, { batch: 2, length: 64, backend: Bk, seed: seen[0] }));
      expect(again, note).toEqual(first);
      expect(Bk.memory().tensors, `leaked ${note}`).toBe(before);
      rm.dispose();
      mm.dispose();
    });
  });
}

import { RngStream } from '@tessera/autoregressive';
// Compile-time: an RngStream is a core RngPosition (the one RNG-position type).
import type { RngPosition } from '@tessera/core';
export const rngStreamIsAPosition: RngPosition = new RngStream(1, 2);
