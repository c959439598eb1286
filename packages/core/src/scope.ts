import { Tensor } from './tensor.js';

/**
 * A scope's record of the tensors created while it ran. Frames sit on the stack only while their
 * function runs synchronously, so the stack always nests properly, even with many runs interleaving.
 */
interface Frame {
  readonly tensors: Set<Tensor>;
  readonly parent: Frame | undefined;
  closed: boolean;
}

const stack: Frame[] = [];
/** Open {@link captureTensors} records (test harnesses): they see every tensor, across awaits. */
const captures = new Set<Set<Tensor>>();
/** Which open frame records a tensor (absent: nobody's, the creator owns it). */
const owner = new WeakMap<Tensor, Frame>();
let lastId = 0;

/** Called by the Tensor constructor. */
export function trackTensor(t: Tensor): void {
  lastId = t.id;
  for (const c of captures) c.add(t);
  const top = stack[stack.length - 1];
  if (top) {
    top.tensors.add(t);
    owner.set(t, top);
  }
}

/**
 * The id of the newest tensor created so far. A tensor whose id is above a watermark taken before a
 * call was created during that call (ids only grow).
 */
export function tensorWatermark(): number {
  return lastId;
}

/**
 * Records every tensor created from now on, anywhere, across awaits, until `stop()` returns them. Meant
 * for test harnesses that run one thing at a time (a conformance test body, a leak check): with runs
 * interleaving it would see their tensors too, which is why scopes never work this way.
 *
 * @example
 * const cap = captureTensors();
 * try { await body(); } finally { for (const t of cap.stop()) t.dispose(); }
 */
export function captureTensors(): { stop(): Set<Tensor> } {
  const seen = new Set<Tensor>();
  captures.add(seen);
  return {
    stop() {
      captures.delete(seen);
      return seen;
    },
  };
}

/**
 * Marks `t` so that no enclosing scope disposes it (it becomes the caller's to dispose).
 * Returns `t` for chaining.
 */
export function keep<T extends Tensor>(t: T): T {
  const f = owner.get(t);
  if (f) {
    f.tensors.delete(t);
    owner.delete(t);
  }
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

function pop(frame: Frame): void {
  const idx = stack.lastIndexOf(frame);
  if (idx >= 0) stack.splice(idx, 1);
}

function close(frame: Frame, result: unknown): void {
  frame.closed = true;
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  // Survivors move to the nearest enclosing frame that is still open, else to the caller.
  let parent = frame.parent;
  while (parent?.closed) parent = parent.parent;
  for (const t of frame.tensors) {
    if (owner.get(t) !== frame) continue;
    if (survivors.has(t)) {
      if (parent) {
        parent.tensors.add(t);
        owner.set(t, parent);
      } else owner.delete(t);
    } else {
      owner.delete(t);
      t.dispose();
    }
  }
  frame.tensors.clear();
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs `fn` and disposes every tensor created while it runs, except tensors in its result (a tensor, or
 * tensors inside a returned array or plain object) and tensors passed to {@link keep}. Returned tensors
 * move to the enclosing scope, if any.
 *
 * A scope never spans an `await` (as tfjs' `tidy`): it records only what `fn` creates synchronously.
 * When `fn` returns a promise, those tensors are disposed once the promise settles (so
 * `scope(() => t.data())` is safe), but tensors created after an `await` inside `fn` are not recorded:
 * give each synchronous stretch its own scope, or own them explicitly with a {@link RunScope}. This is
 * what lets any number of runs interleave on one backend without freeing each other's tensors.
 *
 * @example
 * const x1 = scope(() => B.lincomb([a, -b], [x, B.unary('tanh', x)]));
 */
export function scope<T>(fn: () => T): T {
  const frame: Frame = { tensors: new Set(), parent: stack[stack.length - 1], closed: false };
  stack.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    pop(frame);
    close(frame, undefined);
    throw e;
  }
  pop(frame);
  if (isThenable(result)) {
    return Promise.resolve(result).then(
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

/**
 * The tensors one run owns, recorded explicitly rather than by a global stack, so a run may `await`
 * (a denoiser, a model, a yield to the event loop) while other runs use the same backend. Owned tensors
 * are taken out of every enclosing {@link scope}; {@link RunScope.dispose} frees what is still owned.
 *
 * @example
 * const run = new RunScope();
 * try {
 *   let x = run.own(B.randn([4], { seed: 1 }));
 *   const d = run.own(await denoiser(x, 1));
 *   x = run.swap(x, run.tidy(() => B.lincomb([0.5, 0.5], [x, d])));
 *   return run.release(x);
 * } finally {
 *   run.dispose();
 * }
 */
export class RunScope {
  readonly #owned = new Set<Tensor>();

  /** Takes ownership of `t` (and keeps it from enclosing scopes). Returns `t`. */
  own<T extends Tensor>(t: T): T {
    keep(t);
    this.#owned.add(t);
    return t;
  }

  /** Runs synchronous `fn` in a {@link scope} and owns the tensors of its result. */
  tidy<T>(fn: () => T): T {
    const r = scope(fn);
    const found = new Set<Tensor>();
    collect(r, found);
    for (const t of found) this.own(t);
    return r;
  }

  /** True if `t` is owned by this run. */
  has(t: Tensor): boolean {
    return this.#owned.has(t);
  }

  /** Gives `t` up without disposing it (the caller owns it now). Returns `t`. */
  release<T extends Tensor>(t: T): T {
    this.#owned.delete(t);
    return t;
  }

  /** Disposes `old` if owned (and not `next`), and returns `next`: the idiom for loop-carried tensors. */
  swap<T extends Tensor>(old: Tensor, next: T): T {
    if (old !== next && this.#owned.delete(old)) old.dispose();
    return next;
  }

  /** Disposes every owned tensor except those in `except` (which stay owned). */
  disposeExcept(except: Iterable<Tensor>): void {
    const spare = new Set(except);
    for (const t of this.#owned) {
      if (spare.has(t)) continue;
      this.#owned.delete(t);
      t.dispose();
    }
  }

  /** Number of owned tensors. */
  get size(): number {
    return this.#owned.size;
  }

  /** Disposes everything still owned. Safe to call twice. */
  dispose(): void {
    for (const t of this.#owned) t.dispose();
    this.#owned.clear();
  }
}
