import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TesseraError } from '@tessera/core';

/**
 * Output files: checked before any sampling starts, written atomically at the end.
 *
 * Policy (as `--help` says): an existing file is never replaced unless `--force` is given, and a file is
 * only ever replaced whole: the bytes go to a temporary file beside the target, which is flushed and then
 * renamed over it, so a full disk or a crash leaves the old file as it was and no partial file behind.
 */

/** A temporary name beside `path` (same directory, so the final rename stays on one file system). */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function fsError(path: string, what: string, err: unknown): TesseraError {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EFBIG: 'file too large for this file system or limit',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is not a directory',
    EISDIR: 'it is a directory',
  };
  const reason = (e.code && why[e.code]) ?? e.message ?? String(err);
  return new TesseraError(
    'INVALID_ARGUMENT',
    `cannot ${what} '${path}': ${reason}${e.code ? ` (${e.code})` : ''}`,
    {
      cause: err,
    },
  );
}

/**
 * Checks, before any work, that `path` can be written: its directory exists or can be made, a file can
 * be created there, and the target is not a directory nor (without `force`) an existing file.
 * Creates the directory; leaves no file behind.
 */
export async function checkOutput(path: string, force: boolean): Promise<void> {
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new TesseraError('INVALID_ARGUMENT', `cannot write '${path}': it is a directory`);
  }
  if (existing && !force) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `'${path}' exists; add --force to replace it (the old file is kept until the new one is complete)`,
    );
  }
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw fsError(dirname(path), 'create the folder', err);
  }
  const probe = tempBeside(path);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
  } catch (err) {
    throw fsError(path, 'write', err);
  }
  await unlink(probe).catch(() => undefined);
}

/**
 * Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk, then renamed into
 * place (with `force`) or hard-linked there (without: fails if `path` appeared meanwhile). On any failure
 * the temporary file is removed and an existing `path` is untouched.
 */
export async function writeAtomic(path: string, bytes: Uint8Array | string, force: boolean): Promise<void> {
  const tmp = tempBeside(path);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) await rename(tmp, path);
    else {
      try {
        await link(tmp, path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          throw new TesseraError(
            'INVALID_ARGUMENT',
            `'${path}' appeared while this ran; add --force to replace it`,
          );
        }
        // a file system without hard links: the existence check above must do
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        await stat(path).then(
          () => {
            throw new TesseraError(
              'INVALID_ARGUMENT',
              `'${path}' appeared while this ran; add --force to replace it`,
            );
          },
          () => rename(tmp, path),
        );
      }
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (err instanceof TesseraError) throw err;
    throw fsError(path, 'write', err);
  }
  await unlink(tmp).catch(() => undefined);
}
