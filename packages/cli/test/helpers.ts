// Runs the real `tessera` program as a child process: the CLI is bundled from its TypeScript sources with
// esbuild (as `npm start` does), so the tests see the current code without a prior `npm run build`.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
export const cliRoot = join(here, '..');
const repo = join(cliRoot, '..', '..');
// the bundled CLI (below) sits outside the repository, where @tessera/models cannot find `models/` from
// its own location: child runs read the trained networks from the repository's folder
process.env.TESSERA_MODELS_DIR ??= join(repo, 'models');

/**
 * Bundles bin.ts into `<tmp>/dist/bin.js` next to a copy of the committed shim `<tmp>/bin/tessera.js`
 * (the layout of the published package), and returns the shim's path.
 */
export async function bundleCli(): Promise<string> {
  const { readdirSync } = await import('node:fs');
  const root = mkdtempSync(join(tmpdir(), 'tessera-cli-bin-'));
  const alias = Object.fromEntries(
    readdirSync(join(repo, 'packages')).map((d) => [
      `@tessera/${d}`,
      join(repo, 'packages', d, 'src', 'index.ts'),
    ]),
  );
  await build({
    entryPoints: [join(cliRoot, 'src', 'bin.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(root, 'dist', 'bin.js'),
    alias,
    external: ['webgpu', 'onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'error',
  });
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(cliRoot, 'bin', 'tessera.js'), join(root, 'bin', 'tessera.js'));
  // the external packages resolve from the repository's node_modules
  const { symlinkSync } = await import('node:fs');
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  return join(root, 'bin', 'tessera.js');
}

/** What a child run gave: exit code (null when killed at the time limit), stdout and stderr lines. */
export interface Run {
  code: number | null;
  out: string[];
  err: string[];
}

/** Runs `node <bin> ...args` in `cwd`, killing it after `limitMs`; `shell` wraps it (e.g. a ulimit). */
export function runBin(
  bin: string,
  args: string[],
  o: { cwd: string; limitMs?: number; shellPrefix?: string },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const quoted = [process.execPath, bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = o.shellPrefix
      ? spawn('bash', ['-c', `${o.shellPrefix}; exec ${quoted}`], { cwd: o.cwd })
      : spawn(process.execPath, [bin, ...args], { cwd: o.cwd });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.limitMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);
      resolve({ code, out: lines(out), err: lines(err) });
    });
  });
}

/** Decodes an 8-bit greyscale or RGB PNG written without filters (filter byte 0 per row). */
export function decodePng(bytes: Uint8Array): {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let o = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (o < bytes.length) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    const body = bytes.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      channels = { 0: 1, 2: 3, 6: 4 }[body[9]!]!;
    } else if (type === 'IDAT') idat.push(body);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0);
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, channels, pixels };
}
