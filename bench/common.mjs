// Helpers shared by the bench scripts: the backends to compare, timing, medians and seeded inputs.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@tessera/core';

// Dawn (the `webgpu` package) wants a private runtime dir on Linux
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = join(tmpdir(), `xdg-tessera-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/** Backends named in TESSERA_BENCH_ONLY (comma list), or all of `names`. */
export function wanted(names) {
  const only = process.env.TESSERA_BENCH_ONLY?.split(',').map((s) => s.trim());
  return names.filter((n) => !only || only.includes(n));
}

/** [name, create] pairs for `names` among cpu, webgpu and onnx (onnxruntime-node, cpu provider). */
export function backendMakers(names = ['cpu', 'webgpu', 'onnx']) {
  const make = {
    cpu: async () => createCpuBackend(),
    webgpu: async () => (await import('@tessera/backend-webgpu')).createWebGPUBackend(),
    onnx: async () => {
      const m = await import('@tessera/backend-onnx');
      const ort = await import('onnxruntime-node');
      return m.createOnnxBackend({ ort, executionProviders: ['cpu'] });
    },
  };
  return wanted(names).map((n) => [n, make[n]]);
}

/**
 * Runs `bench(name, B)` on each backend that can be created (a `[skip]` line otherwise), destroying it
 * afterwards. A backend whose bench throws prints a `[fail]` line and adds `{ name, failed: message }` to
 * the results, for the bench's table to show in that backend's row (see {@link failedRow}); the script
 * still exits 0. Returns the results.
 */
export async function onEachBackend(names, bench) {
  const results = [];
  for (const [name, make] of backendMakers(names)) {
    let B;
    try {
      B = await make();
    } catch (err) {
      console.log(`[skip] ${name}: ${err?.message ?? err}`);
      continue;
    }
    try {
      results.push(await bench(name, B));
    } catch (err) {
      const message = String(err?.message ?? err).split('\n')[0];
      console.log(`[fail] ${name}: ${process.env.TESSERA_BENCH_DEBUG ? (err?.stack ?? err) : message}`);
      results.push({ name, failed: message });
    } finally {
      B.destroy?.();
    }
  }
  return results;
}

/** Median of a list of numbers. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Milliseconds until backend `B` has finished `run()` (which returns a tensor); disposes the result. */
export async function timed(B, run) {
  const t0 = performance.now();
  const out = run();
  await B.sync();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/** n uniform values in [−1, 1) from a 32-bit LCG (Numerical Recipes constants) started at `seed`. */
export function lcg(n, seed) {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

/** A table row for a backend whose bench failed: its name, then the first line of the error. */
export const failedRow = (r) => `${r.name.padEnd(7)} | failed: ${r.failed}`;
