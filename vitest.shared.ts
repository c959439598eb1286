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
for (const dir of readdirSync(join(root, 'packages'))) {
  const src = join(root, 'packages', dir, 'src', 'index.ts');
  if (existsSync(src)) alias[`@tessera/${dir}`] = src;
}

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
