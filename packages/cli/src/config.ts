import { readFile } from 'node:fs/promises';
import { TesseraError } from '@tessera/core';

/**
 * Reads and parses a JSON config (a diffusers scheduler_config.json). A missing or unreadable file is a
 * `FILE_NOT_FOUND` TesseraError, bad JSON or a non-object an `INVALID_CONFIG` one; both name the file
 * (the CLI exits with code 1 for them, as for any runtime failure).
 */
export async function readConfig(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TesseraError(
      'FILE_NOT_FOUND',
      `cannot read config '${path}' (${code ?? (err as Error).message})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TesseraError('INVALID_CONFIG', `'${path}' is not valid JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    const got = json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json;
    throw new TesseraError('INVALID_CONFIG', `'${path}' must hold a JSON object, got ${got}`);
  }
  return json as Record<string, unknown>;
}
