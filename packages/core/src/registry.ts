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

/** Why a registered backend's factory failed in {@link getBackend}. */
export interface BackendFailure {
  /** Registry name. */
  name: string;
  /** The error the factory threw or rejected with. */
  error: unknown;
}

let failures: BackendFailure[] = [];
const logged = new Set<string>();

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The factories that failed during the last {@link getBackend}() without a name, in priority order,
 * with their errors (empty when the first choice worked). Each reason is also logged once per process
 * with `console.warn` when getBackend falls back past it.
 */
export function backendFailures(): readonly BackendFailure[] {
  return failures;
}

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
 * is active, the highest-priority registered backend whose factory succeeds becomes active. The reasons of
 * the factories that failed on the way are kept ({@link backendFailures}) and logged once each. When no
 * registered backend works and there is no CPU default, rejects with one `BACKEND_UNAVAILABLE` error that
 * lists every reason (as onnxruntime-common's `resolveBackend` does).
 */
export async function getBackend(name?: string): Promise<Backend> {
  if (name !== undefined) return init(name);
  if (active) return active;
  const found: BackendFailure[] = [];
  for (const n of listBackends()) {
    try {
      active = await init(n);
      break;
    } catch (error) {
      found.push({ name: n, error });
    }
  }
  failures = found;
  for (const f of found) {
    const line = `${f.name}: ${message(f.error)}`;
    if (logged.has(line)) continue;
    logged.add(line);
    console.warn(`[tessera] backend '${f.name}' unavailable, falling back: ${message(f.error)}`);
  }
  if (active) return active;
  if (!defaultBackend) {
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `getBackend: no backend could be created; ${found.map((f) => `${f.name}: ${message(f.error)}`).join('; ') || 'none registered'}`,
      { cause: new AggregateError(found.map((f) => f.error)) },
    );
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
  failures = [];
}
