import type { Backend } from './backend.js';
import { TesseraError } from './errors.js';

/** Makes a backend; may be async (WebGPU needs an adapter). Throwing or rejecting means "not available here". */
export type BackendFactory = () => Backend | Promise<Backend>;

interface Entry {
  factory: BackendFactory;
  priority: number;
  instance?: Backend;
  pending?: Promise<Backend>;
}

const entries = new Map<string, Entry>();
let active: Backend | undefined;
let defaultBackend: (() => Backend) | undefined;

/** Called once by core's index to install the CPU backend as the synchronous default. */
export function setDefaultBackendFactory(make: () => Backend): void {
  defaultBackend = make;
}

/**
 * Registers a backend under `name`. Higher `priority` wins in {@link getBackend}() without a name; a
 * factory that throws or rejects falls through to the next priority. Re-registering a name replaces it.
 */
export function registerBackend(name: string, factory: BackendFactory, priority = 0): void {
  if (!name) throw new TesseraError('INVALID_ARGUMENT', 'registerBackend: name must be a non-empty string');
  const old = entries.get(name);
  if (old?.instance && active === old.instance) active = undefined;
  entries.set(name, { factory, priority });
}

/** Names of registered backends, highest priority first. */
export function listBackends(): string[] {
  return [...entries.entries()].sort((a, b) => b[1].priority - a[1].priority).map(([n]) => n);
}

async function init(name: string): Promise<Backend> {
  const e = entries.get(name);
  if (!e) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `unknown backend '${name}'; registered: ${listBackends().join(', ') || '(none)'}`,
    );
  }
  if (e.instance) return e.instance;
  e.pending ??= Promise.resolve()
    .then(() => e.factory())
    .then((b) => {
      e.instance = b;
      return b;
    })
    .finally(() => {
      e.pending = undefined;
    });
  return e.pending;
}

/**
 * Returns the named backend (initialising it on first use), or without a name the active backend; if none
 * is active, the highest-priority registered backend whose factory succeeds becomes active.
 */
export async function getBackend(name?: string): Promise<Backend> {
  if (name !== undefined) return init(name);
  if (active) return active;
  const errors: string[] = [];
  for (const n of listBackends()) {
    try {
      active = await init(n);
      return active;
    } catch (err) {
      errors.push(`${n}: ${(err as Error).message}`);
    }
  }
  active = currentBackend();
  return active;
}

/** Makes the named backend (or a backend instance) the active one, initialising it if needed. */
export async function setBackend(nameOrBackend: string | Backend): Promise<Backend> {
  active = typeof nameOrBackend === 'string' ? await init(nameOrBackend) : nameOrBackend;
  return active;
}

/** The active backend, synchronously: whatever `setBackend`/`getBackend` chose, else the CPU backend. */
export function currentBackend(): Backend {
  if (active) return active;
  if (!defaultBackend) throw new TesseraError('BACKEND_UNAVAILABLE', 'no backend registered');
  active = defaultBackend();
  return active;
}

/** Forgets the active backend and cached instances (for tests). */
export function resetBackends(): void {
  for (const e of entries.values()) e.instance = undefined;
  active = undefined;
}
