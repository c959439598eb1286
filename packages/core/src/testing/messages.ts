import type { Backend } from '@tessera/core';
import { createCpuBackend, scope, TesseraError } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, test } from './context.js';

/** The error a call throws, as `CODE: message` (tensor ids, which differ per run, as `#id`), or `no error`. */
function errorOf(fn: () => unknown): string {
  try {
    scope(() => {
      fn();
    });
  } catch (e) {
    if (!(e instanceof TesseraError)) return `not a TesseraError: ${String(e)}`;
    return `${e.code}: ${e.message.replace(/#\d+/g, '#id')}`;
  }
  return 'no error';
}

/**
 * Bad calls whose errors come from core's shared checks: on every backend each must throw the CPU
 * reference backend's code and message word for word (the checks live once, in core).
 */
const CASES: Array<[string, (B: Backend) => unknown]> = [
  ['lincomb count', (B) => B.lincomb([1, 2], [B.fill([2], 1)])],
  ['lincomb empty', (B) => B.lincomb([], [])],
  ['lincomb dtype', (B) => B.lincomb([1, 1], [B.fill([2], 1), B.fill([2], 1, 'int32')])],
  ['lincomb shape', (B) => B.lincomb([1, 1], [B.fill([2, 3], 1), B.fill([3, 2], 1)])],
  [
    'lincomb disposed',
    (B) => {
      const t = B.fill([2], 1);
      t.dispose();
      return B.lincomb([1, 1], [B.fill([2], 1), t]);
    },
  ],
  ['reduce name', (B) => B.reduce('median' as never, B.fill([2], 1))],
  ['unary name', (B) => B.unary('cube' as never, B.fill([2], 1))],
  ['binary name', (B) => B.binary('hypot' as never, B.fill([2], 1), B.fill([2], 1))],
  ['binary shapes', (B) => B.binary('add', B.fill([2, 3], 1), B.fill([4], 1))],
  ['matmul shapes', (B) => B.matmul(B.fill([2, 3], 1), B.fill([2, 3], 1))],
  ['reshape size', (B) => B.reshape(B.fill([2, 3], 1), [4, 2])],
  ['resize mode', (B) => B.resize(B.fill([1, 1, 4, 4], 1), [2, 2], 'lanczos' as never)],
  ['random seed', (B) => B.rand([2], { seed: -1 })],
];

export function messageTests(ctx: Ctx): void {
  const { B } = ctx;
  const cpu = createCpuBackend();
  describe('error messages', () => {
    test('bad calls throw the CPU backend’s code and message, word for word', () => {
      for (const [name, call] of CASES) {
        const want = errorOf(() => call(cpu));
        expect(want, name).not.toBe('no error');
        expect(
          errorOf(() => call(B)),
          name,
        ).toBe(want);
      }
    });
  });
}
