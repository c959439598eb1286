// A minimal stand-in for the `vitest` module inside a test page (test-utils/browser.ts aliases `vitest`
// to this file), so suites written for vitest, such as core's backend conformance suite, run unchanged
// in a browser. `expect` is vitest's own (chai with @vitest/expect's Jest matchers), so assertions mean
// exactly what they mean under vitest. describe/it/skipIf are collected and run in order by runAll().

import { JestAsymmetricMatchers, JestChaiExpect, JestExtend } from '@vitest/expect';
import * as chai from 'chai';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

type Body = () => unknown;
interface Suite {
  name: string;
  skip: boolean;
  body?: Body;
  /** Tests and child suites, in registration order. */
  items: Array<{ kind: 'test'; name: string; fn: Body; skip: boolean } | { kind: 'suite'; suite: Suite }>;
}

const root: Suite = { name: '', skip: false, items: [] };
let current = root;

/** vitest's `expect` (Jest-style matchers on chai). */
export const expect = ((value: unknown, message?: string) => chai.expect(value, message)) as unknown as (
  value: unknown,
  message?: string,
) => Record<string, (...a: unknown[]) => unknown> & {
  not: Record<string, (...a: unknown[]) => unknown>;
  resolves: Record<string, (...a: unknown[]) => Promise<unknown>>;
  rejects: Record<string, (...a: unknown[]) => Promise<unknown>>;
};

function addSuite(name: string, body: Body, skip: boolean): void {
  current.items.push({ kind: 'suite', suite: { name, body, skip, items: [] } });
}

function addTest(name: string, fn: Body, skip: boolean): void {
  current.items.push({ kind: 'test', name, fn, skip });
}

export const describe = Object.assign((name: string, body: Body) => addSuite(name, body, false), {
  skip: (name: string, body: Body) => addSuite(name, body, true),
  skipIf: (cond: unknown) => (name: string, body: Body) => addSuite(name, body, !!cond),
});

export const it = Object.assign((name: string, fn: Body) => addTest(name, fn, false), {
  skip: (name: string, fn: Body) => addTest(name, fn, true),
  skipIf: (cond: unknown) => (name: string, fn: Body) => addTest(name, fn, !!cond),
});
export const test = it;

/** Result of {@link runAll}. */
export interface BrowserRun {
  passed: number;
  skipped: number;
  failed: Array<{ name: string; error: string }>;
}

async function runSuite(s: Suite, path: string[], out: BrowserRun): Promise<void> {
  if (s.body) {
    const saved = current;
    current = s;
    try {
      await s.body(); // collection may be asynchronous (suite bodies that await a backend)
    } catch (err) {
      out.failed.push({
        name: [...path, '(collect)'].join(' > '),
        error: String((err as Error)?.stack ?? err),
      });
    } finally {
      current = saved;
    }
  }
  for (const item of s.items) {
    if (item.kind === 'suite') {
      if (s.skip || item.suite.skip) {
        out.skipped++;
        continue;
      }
      await runSuite(item.suite, [...path, item.suite.name], out);
    } else if (s.skip || item.skip) {
      out.skipped++;
    } else {
      try {
        await item.fn();
        out.passed++;
      } catch (err) {
        // chai abbreviates arrays in its message; add the actual value (expectClose lists the mismatches)
        const actual = (err as { actual?: unknown })?.actual;
        const detail = Array.isArray(actual) ? `\n  actual: ${JSON.stringify(actual).slice(0, 1500)}` : '';
        out.failed.push({
          name: [...path, item.name].join(' > '),
          error: `${String((err as Error)?.message ?? err).slice(0, 2000)}${detail}`,
        });
      }
    }
  }
}

/** Runs everything registered so far (suites collected in order, then their tests), once. */
export async function runAll(): Promise<BrowserRun> {
  const out: BrowserRun = { passed: 0, skipped: 0, failed: [] };
  const items = root.items.splice(0);
  await runSuite({ name: '', skip: false, items }, [], out);
  return out;
}
