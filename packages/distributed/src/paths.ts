import { isAbsolute, join, relative, resolve } from 'node:path';
import { TesseraError } from '@tessera/core';

/**
 * Resolves a job's output directory `rel` inside the worker's output root. `rel` must be a relative path
 * of plain segments (letters, digits, `_`, `-`, `.`; no `..`, no empty or absolute paths, no
 * backslashes), so a hostile payload cannot make a worker write outside the root.
 */
export function resolveOutputDir(root: string, rel: string): string {
  checkOutputPath(rel);
  return resolveInside(root, rel);
}

/** A model file `rel` (plain segments, ending in `.onnx`) inside the worker's model root. */
export function resolveModelPath(root: string, rel: string): string {
  checkModelPath(rel);
  return resolveInside(root, rel);
}

/** Checks the shape of a job's model path (relative, plain segments, `.onnx`). */
export function checkModelPath(rel: string): void {
  const expected = "a relative path of plain names ending in .onnx inside the worker's model root";
  checkRelativePath(rel, 'generator.model', expected);
  if (!rel.endsWith('.onnx'))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `generator.model: expected ${expected}, got ${JSON.stringify(rel)}`,
    );
}

function resolveInside(root: string, rel: string): string {
  const base = resolve(root);
  const dir = resolve(base, rel);
  const back = relative(base, dir);
  if (back.startsWith('..') || isAbsolute(back) || back === '')
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `job output: ${JSON.stringify(rel)} resolves outside the root`,
    );
  return join(base, back);
}

/**
 * Checks the shape of a job's output path (see {@link resolveOutputDir}) without a root. Throws
 * TesseraError `INVALID_ARGUMENT`.
 */
export function checkOutputPath(rel: string): void {
  checkRelativePath(rel, 'job output', "a relative directory of plain names inside the worker's output root");
}

/**
 * Checks that `rel` is a relative path of plain segments (see {@link resolveOutputDir}); `what` and
 * `expected` word the TesseraError `INVALID_ARGUMENT`.
 */
export function checkRelativePath(rel: string, what: string, expected: string): void {
  const bad = (why: string): never => {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${what}: expected ${expected}, got ${JSON.stringify(rel)} (${why})`,
    );
  };
  if (typeof rel !== 'string' || rel.length === 0) bad('empty');
  if (rel.length > 200) bad('longer than 200 characters');
  if (isAbsolute(rel) || rel.startsWith('/') || rel.includes('\\')) bad('absolute path or backslash');
  for (const seg of rel.split('/')) {
    if (seg === '..') bad("'..' segment");
    if (seg === '' || seg === '.') bad('empty or "." segment');
    if (!/^[A-Za-z0-9_.-]+$/.test(seg))
      bad(`segment ${JSON.stringify(seg)} has characters outside [A-Za-z0-9_.-]`);
  }
}

/** File name of image `index` (zero-padded to 8 digits so directory listings sort by index). */
export function imageFileName(index: number): string {
  return `${String(index).padStart(8, '0')}.png`;
}
