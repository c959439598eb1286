/** Default BullMQ queue name (workers and coordinators must agree). */
export const DEFAULT_QUEUE = 'tessera-eval';

/**
 * Closes a BullMQ object, or drops its connections when closing takes longer than `ms` (a close waits
 * for Redis, which may be gone).
 */
export async function closeWithin(
  close: () => Promise<void>,
  disconnect: () => Promise<void>,
  ms: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((res) => {
    timer = setTimeout(() => res('late'), ms);
  });
  try {
    const r = await Promise.race([close().catch(() => undefined), late]);
    if (r === 'late') {
      // Disconnecting can wait on Redis too: give it a moment, then leave it to finish on its own.
      const drop = disconnect().catch(() => undefined);
      await Promise.race([drop, new Promise((res) => setTimeout(res, 1000).unref())]);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A function that yields to the event loop (a macrotask) when more than `ms` have passed since it last
 * did, so timers such as BullMQ's lock renewal run during long synchronous work.
 */
export function yielder(ms = 20): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < ms) return;
    await new Promise((res) => setImmediate(res));
    last = performance.now();
  };
}
