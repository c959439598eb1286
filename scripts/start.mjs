// `npm start`: bundles the `tessera` CLI straight from the TypeScript sources (esbuild, about a second;
// no type declarations needed) and runs the showcase. Arguments after `--` go to the showcase,
// e.g. `npm start -- --backend cpu`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const alias = Object.fromEntries(
  readdirSync(join(root, 'packages')).map((d) => [
    `@tessera/${d}`,
    join(root, 'packages', d, 'src', 'index.ts'),
  ]),
);
const outfile = join(root, 'node_modules', '.cache', 'tessera', 'cli.mjs');
mkdirSync(dirname(outfile), { recursive: true });
await build({
  entryPoints: [join(root, 'packages', 'cli', 'src', 'bin.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  alias,
  external: ['webgpu', 'onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
});
const env = { ...process.env };
env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'tessera-xdg-'));
const r = spawnSync(process.execPath, [outfile, 'showcase', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
  cwd: root,
});
process.exit(r.status ?? 1);
