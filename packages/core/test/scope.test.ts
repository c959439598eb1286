import { currentBackend, dispose, keep, RunScope, scope, type Tensor, tensor, tidy } from '@tessera/core';
import { describe, expect, it } from 'vitest';

const B = currentBackend();
const live = () => B.memory().tensors;
const vec = (...v: number[]) => tensor(new Float32Array(v), [v.length]);

describe('scope / tidy / keep / dispose', () => {
  it('disposes every intermediate and keeps the returned tensor', async () => {
    const before = live();
    let inner: Tensor[] = [];
    const out = scope(() => {
      const a = vec(1, 2, 3);
      const b = B.binary('mul', a, 2);
      const c = B.lincomb([1, 1], [a, b]);
      inner = [a, b];
      return c;
    });
    expect(inner.every((t) => t.isDisposed)).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(Array.from(await out.data())).toEqual([3, 6, 9]);
    expect(live()).toBe(before + 1);
    out.dispose();
    expect(live()).toBe(before);
  });

  it('tensors inside a returned array or plain object survive', () => {
    const before = live();
    const { pair, nested } = tidy(() => {
      vec(0); // dropped
      return { pair: [vec(1), vec(2)], nested: { deep: vec(3) } };
    });
    expect(pair.map((t) => t.isDisposed)).toEqual([false, false]);
    expect(nested.deep.isDisposed).toBe(false);
    expect(live()).toBe(before + 3);
    dispose(pair, nested);
    expect(live()).toBe(before);
  });

  it('an async scope records only its synchronous part and frees it when the promise settles', async () => {
    const before = live();
    let tmp: Tensor | undefined;
    let late: Tensor | undefined;
    const p = scope(async () => {
      tmp = vec(1, 2);
      await new Promise((r) => setTimeout(r, 5));
      expect(tmp.isDisposed).toBe(false); // freed only once the promise settles
      late = vec(7); // after an await: not recorded by this scope (the caller owns it)
      return B.unary('neg', tmp);
    });
    const y = await p;
    expect(tmp!.isDisposed).toBe(true);
    expect(late!.isDisposed).toBe(false);
    expect(Array.from(await y.data())).toEqual([-1, -2]);
    dispose(y, late);
    expect(live()).toBe(before);
  });

  it('two interleaved async scopes never free each other’s tensors', async () => {
    const before = live();
    const tick = () => new Promise((r) => setTimeout(r, 1));
    // Each run makes tensors in synchronous stretches between awaits, the way a sampling loop does.
    const run = async (v: number): Promise<number[]> => {
      const own = new RunScope();
      try {
        let x = own.own(vec(v, v + 1));
        for (let i = 0; i < 5; i++) {
          await tick();
          x = own.swap(
            x,
            own.tidy(() => B.lincomb([1, 1], [x, vec(1, 1)])),
          );
          await scope(async () => {
            vec(99); // freed when this scope's promise settles, whoever else runs meanwhile
            await tick();
          });
        }
        return Array.from(await x.data());
      } finally {
        own.dispose();
      }
    };
    const [a, b] = await Promise.all([run(10), run(20)]);
    expect(a).toEqual([15, 16]);
    expect(b).toEqual([25, 26]);
    expect(live()).toBe(before);
  });

  it('RunScope: own, release, swap, disposeExcept', () => {
    const before = live();
    const run = new RunScope();
    const kept = scope(() => {
      const a = run.own(vec(1));
      vec(2); // the scope's
      return a;
    });
    expect(kept.isDisposed).toBe(false); // owned by the run, not by the scope
    const b = run.own(vec(3));
    const c = run.own(vec(4));
    expect(run.swap(b, c)).toBe(c);
    expect(b.isDisposed).toBe(true);
    run.disposeExcept([c]);
    expect(kept.isDisposed).toBe(true);
    expect(run.size).toBe(1);
    const mine = run.release(c);
    run.dispose();
    expect(mine.isDisposed).toBe(false);
    mine.dispose();
    expect(live()).toBe(before);
  });

  it('a throwing scope still disposes its tensors', async () => {
    const before = live();
    expect(() =>
      scope(() => {
        vec(1);
        throw new Error('fail');
      }),
    ).toThrow('fail');
    await expect(
      scope(async () => {
        vec(2);
        throw new Error('async fail');
      }),
    ).rejects.toThrow('async fail');
    expect(live()).toBe(before);
  });

  it('nested scopes: the inner result moves to the outer scope, which disposes it unless returned', () => {
    const before = live();
    let innerResult: Tensor | undefined;
    const outer = scope(() => {
      innerResult = scope(() => {
        vec(9);
        return vec(1);
      });
      expect(innerResult.isDisposed).toBe(false);
      return vec(2);
    });
    expect(innerResult!.isDisposed).toBe(true);
    expect(outer.isDisposed).toBe(false);
    outer.dispose();
    expect(live()).toBe(before);
  });

  it('keep() protects a tensor from every enclosing scope', () => {
    const before = live();
    let kept: Tensor | undefined;
    scope(() => {
      scope(() => {
        kept = keep(vec(5));
        vec(6);
      });
    });
    expect(kept!.isDisposed).toBe(false);
    expect(live()).toBe(before + 1);
    kept!.dispose();
    kept!.dispose(); // idempotent
    expect(live()).toBe(before);
  });
});
