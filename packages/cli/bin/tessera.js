#!/usr/bin/env node
// The `tessera` command. This file is committed so that npm links the bin at install time, before
// `npm run build` has made dist/; it runs the built CLI, or says how to build it.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/bin.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  console.error(
    "tessera: the CLI is not built yet: run 'npm run build' at the repository root (or 'npx turbo run build --filter=@tessera/cli...')",
  );
  process.exitCode = 1;
}
