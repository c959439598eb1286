import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(pkg, '..', '..');
const built = existsSync(join(pkg, 'dist', 'index.js')) && existsSync(join(pkg, 'dist', 'index.d.ts'));
if (!built && process.env.CI)
  throw new Error('packages/core/dist is missing: run the build first (npm test builds it)');
if (!built)
  console.warn('[tessera] dist test skipped: packages/core/dist not built (run `npx tsup` or `npm test`)');

// The script runs in a plain Node ESM process from the repository root, resolving '@tessera/core'
// through the workspace symlink and the package's `exports` map to the built dist/index.js.
const script = `
import { tensor, randn, rand, getBackend, philoxWords, TesseraError, scope } from '@tessera/core';
const src = new Float32Array([1.5, -2, 3.25, 4, 1e-7, -6e10]);
const t = tensor(src, [2, 3]);
const back = await t.data();
const B = await getBackend();
const z = await randn([4], { seed: 42 }).data();
const u = await rand([3], { seed: 7, offset: 5 }).data();
const w = philoxWords(7, 5, 3);
let code = '';
try { B.lincomb([1], [tensor(new Int32Array([1]), [1])]); } catch (e) { code = e instanceof TesseraError ? e.code : 'other'; }
const kept = scope(() => B.binary('add', t, 1));
console.log(JSON.stringify({
  shape: t.shape, dtype: t.dtype, back: Array.from(back), same: back.every((v, i) => Object.is(v, src[i])),
  backend: B.name, z: Array.from(z), u: Array.from(u), w: Array.from(w), code, kept: Array.from(await kept.data()),
}));
`;

describe.skipIf(!built)('built package from plain Node ESM', () => {
  it('imports @tessera/core from dist and round-trips data exactly', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(r.shape).toEqual([2, 3]);
    expect(r.dtype).toBe('float32');
    expect(r.same).toBe(true);
    expect(r.back).toEqual(Array.from(new Float32Array([1.5, -2, 3.25, 4, 1e-7, -6e10])));
    expect(r.backend).toBe('cpu');
    expect(r.code).toBe('DTYPE_MISMATCH');
    expect(r.kept).toEqual([
      2.5,
      -1,
      4.25,
      5,
      Math.fround(Math.fround(1e-7) + 1),
      Math.fround(Math.fround(-6e10) + 1),
    ]);
    // rand is ((w >>> 9) + 0.5)·2⁻²³ of the same words (the contract, computed here in float64)
    expect(r.u).toEqual(r.w.map((x: number) => ((x >>> 9) + 0.5) / 2 ** 23));
    expect(r.z).toHaveLength(4);
    expect(r.z.every((v: number) => Number.isFinite(v) && v !== 0)).toBe(true);
  });
});
