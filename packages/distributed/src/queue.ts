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
