// Package hygiene across the monorepo (issue 12, item 8), read from the package.json files themselves:
// license metadata and LICENSE files, engines/repository/homepage/bugs, core's side effects declared,
// no @tessera dependency a package's sources never import, onnxruntime-* as optional peers, and the
// conformance suite importable as `@tessera/core/testing` from the built package.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dirs = readdirSync(join(root, 'packages')).filter((d) =>
  existsSync(join(root, 'packages', d, 'package.json')),
);
type Pkg = {
  name: string;
  license?: string;
  files?: string[];
  engines?: { node?: string };
  repository?: { url?: string; directory?: string };
  homepage?: string;
  bugs?: { url?: string };
  sideEffects?: boolean | string[];
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
const read = (d: string): Pkg => JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8'));

function sources(dir: string): string {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(p, e.name));
      else if (e.name.endsWith('.ts')) out.push(readFileSync(join(p, e.name), 'utf8'));
    }
  };
  walk(join(root, 'packages', dir, 'src'));
  return out.join('\n');
}

describe('package hygiene', () => {
  it('a root LICENSE (MIT, Tessera contributors) and one shipped by every package', () => {
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^MIT License/);
    expect(text).toContain('Copyright (c) 2026 Tessera contributors');
    for (const d of dirs) {
      const p = read(d);
      expect(p.license, d).toBe('MIT');
      expect(readFileSync(join(root, 'packages', d, 'LICENSE'), 'utf8'), d).toBe(text);
      expect(p.files, d).toContain('LICENSE');
    }
  });

  it('engines, repository, homepage and bugs in every package.json', () => {
    for (const d of dirs) {
      const p = read(d);
      expect(p.engines?.node, d).toMatch(/^>=\d+/);
      expect(p.repository?.url, d).toMatch(/^git\+https:\/\/.+\.git$/);
      expect(p.repository?.directory, d).toBe(`packages/${d}`);
      expect(p.homepage, d).toMatch(/^https:\/\//);
      expect(p.bugs?.url, d).toMatch(/^https:\/\//);
    }
  });

  it('every @tessera runtime dependency is imported by the package’s sources', () => {
    for (const d of dirs) {
      const src = sources(d);
      for (const dep of Object.keys(read(d).dependencies ?? {})) {
        if (!dep.startsWith('@tessera/')) continue;
        expect(
          src.includes(`'${dep}'`) || src.includes(`'${dep}/`),
          `${d} lists ${dep} but never imports it`,
        ).toBe(true);
      }
    }
  });

  it('core declares its side effect (registering the CPU backend); onnxruntime-* are optional peers', () => {
    const core = read('core');
    expect(core.sideEffects).toEqual(['./dist/index.js']);
    expect(sources('core')).toContain("registerBackend('cpu'");
    const onnx = read('backend-onnx');
    expect(onnx.dependencies?.['onnxruntime-common']).toBeUndefined();
    for (const name of ['onnxruntime-common', 'onnxruntime-node', 'onnxruntime-web']) {
      expect(onnx.peerDependencies?.[name], name).toMatch(/^\^1\.\d+/);
      expect(onnx.peerDependenciesMeta?.[name]?.optional, name).toBe(true);
    }
    // onnxruntime-common is used for types only.
    for (const line of sources('backend-onnx').split('\n'))
      if (line.includes("from 'onnxruntime-common'")) expect(line, line).toMatch(/^import type|^export type/);
  });

  const built = existsSync(join(root, 'packages', 'core', 'dist', 'testing', 'index.js'));
  it.skipIf(!built)('`@tessera/core/testing` resolves from the built package in plain Node', () => {
    expect(Object.keys(read('core').exports ?? {})).toContain('./testing');
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@tessera/core/testing'); console.log(typeof m.describeConformance);",
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('function');
  });
});
