// The browser path of createWebGPUBackend (navigator.gpu, Chromium's WebGPU; SwiftShader's adapter here):
// core's conformance suite, unchanged, run inside a page (test/browser/conformance.page.ts) with
// vitest's own `expect`. Skipped with a notice without Chromium, unless TESSERA_REQUIRE_BROWSER=1.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserPage, openBrowserPage } from '../../../test-utils/browser.ts';

const here = dirname(fileURLToPath(import.meta.url));
const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 2147483647);

describe(`browser: backend conformance on navigator.gpu (seed ${seed}, replay: TESSERA_TEST_SEED=${seed})`, () => {
  let bp: BrowserPage | undefined;
  beforeAll(async () => {
    bp = await openBrowserPage(
      join(here, 'browser', 'conformance.page.ts'),
      {},
      {
        alias: { vitest: join(here, '..', '..', '..', 'test-utils', 'browser-vitest.ts') },
      },
    );
  }, 120_000);
  afterAll(async () => {
    await bp?.close();
  });

  it('every conformance test passes in Chromium', async (ctx) => {
    if (!bp) return ctx.skip();
    const r = await bp.page.evaluate(
      (s) =>
        (
          globalThis as unknown as {
            tessera: {
              conformance(seed: number): Promise<{
                passed: number;
                skipped: number;
                failed: Array<{ name: string; error: string }>;
                adapter: string;
                memory: { tensors: number };
              }>;
            };
          }
        ).tessera.conformance(s),
      seed,
    );
    console.log(
      `[browser] adapter ${r.adapter}: ${r.passed} passed, ${r.failed.length} failed, ${r.skipped} skipped`,
    );
    const failures = r.failed.map((f) => `${f.name}\n  ${f.error}`).join('\n');
    expect(failures, `seed ${seed}`).toBe('');
    // the suite registers well over a hundred tests; a collection problem would show as a small count
    expect(r.passed).toBeGreaterThan(100);
    expect(r.skipped).toBe(0);
    expect(r.memory.tensors, 'tensors left alive by the suite').toBe(0);
  }, 600_000);
});
