import { Tensor } from './tensor.js';

/** Tensors created while a scope is open are recorded in it and disposed when it closes. */
const stack: Set<Tensor>[] = [];
const kept = new WeakSet<Tensor>();

/** Called by the Tensor constructor. */
export function trackTensor(t: Tensor): void {
  const top = stack[stack.length - 1];
  if (top) top.add(t);
}

/**
 * Marks `t` so that no enclosing scope disposes it (it becomes the caller's to dispose).
 * Returns `t` for chaining.
 */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 3) return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, out, depth + 1);
}

function close(frame: Set<Tensor>, result: unknown): void {
  const idx = stack.lastIndexOf(frame);
  if (idx >= 0) stack.splice(idx, 1);
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const parent = stack[stack.length - 1];
  for (const t of frame) {
    if (survivors.has(t)) {
      if (parent) parent.add(t);
    } else if (!kept.has(t)) {
      t.dispose();
    }
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it, except tensors in its result (a tensor, or
 * tensors inside a returned array or plain object) and tensors passed to {@link keep}. Returned tensors
 * move to the enclosing scope, if any. Works with async functions: the scope closes when the promise
 * settles. Scopes nest; do not interleave two async scopes concurrently.
 *
 * @example
 * const x1 = await scope(async () => B.lincomb([a, -b], [x, await denoiser(x, s)]));
 */
export function scope<T>(fn: () => T): T {
  const frame = new Set<Tensor>();
  stack.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(frame, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        close(frame, v);
        return v;
      },
      (e) => {
        close(frame, undefined);
        throw e;
      },
    ) as T;
  }
  close(frame, result);
  return result;
}

/** Synchronous {@link scope}, named after tf.tidy. */
export function tidy<T>(fn: () => T): T {
  return scope(fn);
}

/** Disposes every tensor in `values` (nested arrays and plain objects too). */
export function dispose(...values: unknown[]): void {
  const all = new Set<Tensor>();
  for (const v of values) collect(v, all);
  for (const t of all) t.dispose();
}
