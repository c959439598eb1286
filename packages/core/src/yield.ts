import { TesseraError } from './errors.js';

/** Default time a loop may run between two yields to the event loop, in milliseconds. */
export const YIELD_INTERVAL_MS = 25;

/**
 * Resolves after one macrotask: `setImmediate` (Node), else a `MessageChannel` message (browsers), else
 * `setTimeout(0)`. Timers, I/O, input and abort handlers and (under Dawn) WebGPU callbacks and deferred
 * releases get to run before it resolves. Not `scheduler.yield()`: Chromium runs its continuation ahead
 * of pending timers, so a `setTimeout` (an abort, a UI tick) would never fire during a run.
 */
export function nextMacrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const si = g.setImmediate;
    return new Promise((resolve) => {
      si(resolve);
    });
  }
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      const port = ch.port1 as unknown as { onmessage: (() => void) | null; close(): void };
      port.onmessage = () => {
        port.close();
        resolve();
      };
      ch.port2.postMessage(undefined);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A per-run pacer for long loops: call the returned function between steps; it yields a macrotask
 * (see {@link nextMacrotask}) when at least `intervalMs` have passed since the last yield, and otherwise
 * returns at once. Pacing by elapsed time rather than by step count keeps a browser tab responsive and
 * lets timers (an abort from `setTimeout`) fire whatever a step costs.
 *
 * With `fence` (the run's backend), each yield also starts a `sync()` and waits for the one started at
 * the yield before: the device may run at most about two intervals behind the loop. Without it a fast
 * host outruns a slow device (lavapipe shares the CPU) and queued command buffers and bind groups pile
 * up in native memory. It is a completion fence, not a readback: no data comes back to the host.
 *
 * @example
 * const pace = pacer(YIELD_INTERVAL_MS, backend);
 * for (let i = 0; i < steps; i++) {
 *   await pace();
 *   throwIfAborted(signal, `sample: aborted before step ${i + 1} of ${steps}`);
 *   // ... one step
 * }
 */
export function pacer(
  intervalMs: number = YIELD_INTERVAL_MS,
  fence?: { sync(): Promise<void> },
): () => Promise<void> | undefined {
  let last = performance.now();
  let pending: Promise<void> | undefined;
  return () => {
    const now = performance.now();
    if (now - last < intervalMs) return undefined;
    const previous = pending;
    // a failed fence (a lost device) surfaces in the run's own next op; never as an unhandled rejection
    pending = fence?.sync().catch(() => undefined);
    return (previous ?? Promise.resolve()).then(nextMacrotask).then(() => {
      last = performance.now();
    });
  };
}

/** Throws TesseraError ABORTED (with the signal's reason as `cause`) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, message: string): void {
  if (signal?.aborted) throw new TesseraError('ABORTED', message, { cause: signal.reason });
}
