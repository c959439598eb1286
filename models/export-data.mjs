// Writes the fixed training / held-out digit sets from @tessera/reference's procedural generator as
// raw little-endian files the Python scripts read (numpy.fromfile):
//   data/digits16-train.f32  (N·1·16·16 float32 in [-1, 1]) + data/digits16-train.i32 (labels)
//   data/digits16-test.f32   + data/digits16-test.i32   (held-out: another Philox seed)
// Run from the repository root after `npx turbo run build --filter=@tessera/reference...`:
//   node models/export-data.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digitsDataset } from '@tessera/reference';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'data');
mkdirSync(out, { recursive: true });
const sets = [
  { name: 'digits16-train', count: 60000, seed: 1 },
  { name: 'digits16-test', count: 10000, seed: 2 },
];
for (const { name, count, seed } of sets) {
  const d = digitsDataset({ count, size: 16, seed });
  writeFileSync(join(out, `${name}.f32`), Buffer.from(d.data.buffer));
  writeFileSync(join(out, `${name}.i32`), Buffer.from(d.labels.buffer));
  console.log(`${name}: ${count} images, seed ${seed}, shape ${d.shape.join('×')}`);
}
