// Test page (bundled by test-utils/browser.ts, run in Chromium): a long sampling run with a synchronous
// denoiser keeps the page responsive (a 10 ms interval keeps ticking during the run) and stops within
// one step of an abort fired from a timer. The test calls `globalThis.tessera.run(seed, abortAfterMs)`.
import { currentBackend, type Tensor, TesseraError } from '@tessera/core';
import { sample } from '@tessera/diffusion';

interface RunResult {
  ms: number;
  steps: number;
  maxGapMs: number;
  ticks: number;
  aborted: boolean;
  startedAtAbort: number;
  code?: string;
  scheduler: boolean;
}

async function run(seed: number, abortAfterMs?: number): Promise<RunResult> {
  const B = currentBackend();
  const d = 8;
  const mu = B.tensor(
    Array.from({ length: d }, (_, i) => Math.sin(seed + i)),
    [d],
  );
  // A synchronous denoiser costing 2 ms: D(x, σ) = μ + (x − μ)/(1 + σ²), the exact denoiser of N(μ, I).
  const denoiser = (x: Tensor, sigma: number) => {
    const end = performance.now() + 2;
    while (performance.now() < end) {}
    return B.lincomb([1 / (1 + sigma * sigma), 1 - 1 / (1 + sigma * sigma)], [x, B.broadcastTo(mu, x.shape)]);
  };
  const steps = 300;
  const sigmas = Array.from({ length: steps }, (_, i) => 10 * 0.001 ** (i / (steps - 1)));
  sigmas.push(0);
  const x = B.randn([4, d], { seed });
  const ticks: number[] = [];
  const timer = setInterval(() => ticks.push(performance.now()), 10);
  const ac = new AbortController();
  let started = 0;
  let startedAtAbort = -1;
  ac.signal.addEventListener('abort', () => {
    startedAtAbort = started;
  });
  const abortTimer = abortAfterMs === undefined ? undefined : setTimeout(() => ac.abort(), abortAfterMs);
  const t0 = performance.now();
  let code: string | undefined;
  try {
    const out = await sample('euler', {
      denoiser,
      x,
      sigmas,
      signal: ac.signal,
      callback: () => {
        started++;
      },
    });
    out.dispose();
  } catch (e) {
    code = e instanceof TesseraError ? e.code : String(e);
  }
  const t1 = performance.now();
  clearInterval(timer);
  if (abortTimer !== undefined) clearTimeout(abortTimer);
  x.dispose();
  mu.dispose();
  const inRun = [t0, ...ticks.filter((t) => t >= t0 && t <= t1), t1];
  let maxGapMs = 0;
  for (let i = 1; i < inRun.length; i++) maxGapMs = Math.max(maxGapMs, inRun[i]! - inRun[i - 1]!);
  return {
    ms: t1 - t0,
    steps: started,
    maxGapMs,
    ticks: inRun.length - 2,
    aborted: ac.signal.aborted,
    startedAtAbort,
    ...(code ? { code } : {}),
    scheduler: typeof (globalThis as { scheduler?: { yield?: unknown } }).scheduler?.yield === 'function',
  };
}

Object.assign(globalThis, { tessera: { run }, __ready: true });
