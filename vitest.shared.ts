// Shared vitest settings: every @tessera/* import resolves to the package's TypeScript source, so a
// test run sees one copy of each module (one backend registry, one TesseraError class).
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

// Dawn (the `webgpu` package) aborts without a private XDG_RUNTIME_DIR; give test workers one.
if (!process.env.XDG_RUNTIME_DIR) {
  process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'tessera-xdg-'));
}
const alias: Record<string, string> = {};
const dirs = readdirSync(join(root, 'packages'));
// Subpath exports first (`@tessera/core/testing`): an alias key also matches `key/…`.
for (const dir of dirs) {
  const testing = join(root, 'packages', dir, 'src', 'testing', 'index.ts');
  if (existsSync(testing)) alias[`@tessera/${dir}/testing`] = testing;
}
for (const dir of dirs) {
  const src = join(root, 'packages', dir, 'src', 'index.ts');
  if (existsSync(src)) alias[`@tessera/${dir}`] = src;
}

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: CI machines may be slower and run every package at once (a loaded .ci/run here took up
    // to 34 s for tests without their own limit). A hang still fails within three minutes.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
