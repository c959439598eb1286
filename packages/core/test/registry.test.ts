import {
  type Backend,
  backendFailures,
  createCpuBackend,
  currentBackend,
  getBackend,
  listBackends,
  registerBackend,
  resetBackends,
  setBackend,
  TesseraError,
  tensor,
} from '@tessera/core';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** Each test registers its own names; afterwards the CPU backend is active again. */
afterEach(async () => {
  for (const name of listBackends())
    if (name !== 'cpu') registerBackend(name, () => Promise.reject(new Error('gone')), -1000);
  resetBackends();
  await setBackend('cpu');
});

describe('backend registry', () => {
  it('getBackend() keeps each failing factory’s reason and logs it once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      resetBackends();
      const why = new Error(`no adapter #${Math.floor(Math.random() * 1e9)}`);
      registerBackend('gpu-less', () => Promise.reject(why), 50);
      registerBackend(
        'throws-sync',
        () => {
          throw new TypeError('not here');
        },
        40,
      );
      const B = await getBackend();
      expect(B.name).toBe('cpu');
      expect(backendFailures().map((f) => f.name)).toEqual(['gpu-less', 'throws-sync']);
      expect(backendFailures()[0]!.error).toBe(why);
      expect(backendFailures()[1]!.error).toBeInstanceOf(TypeError);
      const lines = warn.mock.calls.map((c) => String(c[0]));
      expect(lines.filter((l) => l.includes(why.message))).toHaveLength(1);
      expect(lines.some((l) => l.includes("'throws-sync'") && l.includes('not here'))).toBe(true);
      // Asked again (after a reset), the same reasons are kept but not logged twice.
      resetBackends();
      expect(backendFailures()).toEqual([]);
      await getBackend();
      expect(backendFailures()).toHaveLength(2);
      const again = warn.mock.calls.map((c) => String(c[0]));
      expect(again.filter((l) => l.includes(why.message))).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('the CPU backend is registered and active by default', async () => {
    expect(listBackends()).toContain('cpu');
    expect(currentBackend().name).toBe('cpu');
    expect((await getBackend('cpu')).name).toBe('cpu');
  });

  it('getBackend() picks the highest priority; a failing async factory falls through to the next', async () => {
    resetBackends();
    const good = createCpuBackend();
    const calls: string[] = [];
    registerBackend(
      'broken',
      async () => {
        calls.push('broken');
        throw new Error('no adapter');
      },
      30,
    );
    registerBackend(
      'good',
      async () => {
        calls.push('good');
        return good;
      },
      20,
    );
    registerBackend('low', () => createCpuBackend(), 10);
    expect(listBackends().slice(0, 3)).toEqual(['broken', 'good', 'low']);
    expect(await getBackend()).toBe(good);
    expect(calls).toEqual(['broken', 'good']);
    expect(currentBackend()).toBe(good);
    // the instance is cached: the factory runs once
    expect(await getBackend('good')).toBe(good);
    expect(calls).toEqual(['broken', 'good']);
  });

  it('a synchronously throwing factory falls through too; the named failure rejects', async () => {
    resetBackends();
    registerBackend(
      'throws',
      () => {
        throw new Error('boom');
      },
      50,
    );
    expect((await getBackend()).name).toBe('cpu');
    await expect(getBackend('throws')).rejects.toThrow('boom');
  });

  it('setBackend makes a named backend (or an instance) active; tensor() then uses it', async () => {
    const mine = createCpuBackend();
    registerBackend('mine', () => mine, 0);
    expect(await setBackend('mine')).toBe(mine);
    expect(currentBackend()).toBe(mine);
    const t = tensor([1, 2], [2]);
    expect(t.backend).toBe(mine);
    t.dispose();
    const other = createCpuBackend();
    expect(await setBackend(other)).toBe(other);
    expect(currentBackend()).toBe(other);
  });

  it('unknown names throw TesseraError UNKNOWN_NAME listing what is registered', async () => {
    const err = await getBackend('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('UNKNOWN_NAME');
    expect((err as TesseraError).message).toContain("'nope'");
    expect((err as TesseraError).message).toContain('cpu');
    await expect(setBackend('nope')).rejects.toMatchObject({ code: 'UNKNOWN_NAME' });
  });

  it('re-registering a name replaces its factory', async () => {
    const a = createCpuBackend();
    const b = createCpuBackend();
    registerBackend('swap', () => a, 0);
    expect(await getBackend('swap')).toBe(a);
    registerBackend('swap', () => b, 0);
    expect(await getBackend('swap')).toBe(b);
  });

  it('registerBackend rejects an empty name', () => {
    expect(() => registerBackend('', () => createCpuBackend() as Backend)).toThrow(TesseraError);
  });
});
