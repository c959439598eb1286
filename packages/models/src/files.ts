import { TesseraError } from '@tessera/core';

/**
 * Where the trained models live: a directory path (Node) or a base URL (browser), holding one folder per
 * model (`unet-digits16/model.onnx`, …) as written by the scripts in the repository's `models/`.
 */
export type ModelsLocation = string | URL;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/**
 * The repository's `models/` folder, found from this module's URL (`packages/models/{src,dist}/…` →
 * `models/`). Pass `dir` to the loaders when the files live elsewhere (a CDN, an app's public folder).
 */
export function defaultModelsDir(): URL {
  return new URL('../../../models/', import.meta.url);
}

function joinLocation(dir: ModelsLocation, file: string): URL | string {
  if (dir instanceof URL) return new URL(file, dir.href.endsWith('/') ? dir : new URL(`${dir.href}/`));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) return new URL(file, dir.endsWith('/') ? dir : `${dir}/`);
  return `${dir.replace(/[\\/]+$/, '')}/${file}`;
}

async function readBytes(where: URL | string, label: string): Promise<Uint8Array> {
  const local = typeof where === 'string' || where.protocol === 'file:';
  if (local && isNode()) {
    // a variable specifier: browser bundlers leave the Node-only imports alone
    const fsName = 'node:fs/promises';
    const urlName = 'node:url';
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
    const path =
      typeof where === 'string'
        ? where
        : ((await import(/* @vite-ignore */ urlName)) as typeof import('node:url')).fileURLToPath(where);
    try {
      return new Uint8Array(await fs.readFile(path));
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new TesseraError(
        code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT',
        `@tessera/models: cannot read ${label} at '${path}': ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  let res: Response;
  try {
    res = await fetch(where);
  } catch (err) {
    throw new TesseraError('FILE_NOT_FOUND', `@tessera/models: cannot fetch ${label} from '${where}'`, {
      cause: err,
    });
  }
  if (!res.ok)
    throw new TesseraError(
      'FILE_NOT_FOUND',
      `@tessera/models: fetching ${label} from '${where}' gave HTTP ${res.status}`,
    );
  return new Uint8Array(await res.arrayBuffer());
}

/** Lower-case hex SHA-256 of `bytes` (WebCrypto: Node ≥ 18 and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Reads `file` under `dir` and checks its SHA-256 against `sha256`. A missing file rejects with
 * FILE_NOT_FOUND, other bytes (a truncated or altered file) with CORRUPT_FILE naming both digests.
 */
export async function readVerified(
  dir: ModelsLocation,
  file: string,
  sha256: string,
  expectedBytes?: number,
): Promise<Uint8Array> {
  const where = joinLocation(dir, file);
  const bytes = await readBytes(where, `'${file}'`);
  const got = await sha256Hex(bytes);
  if (got !== sha256) {
    const size =
      expectedBytes !== undefined && expectedBytes !== bytes.length
        ? ` (${bytes.length} bytes, expected ${expectedBytes})`
        : ` (${bytes.length} bytes)`;
    throw new TesseraError(
      'CORRUPT_FILE',
      `@tessera/models: checksum mismatch for '${String(where)}'${size}: expected sha256 ${sha256}, got ${got}`,
    );
  }
  return bytes;
}
