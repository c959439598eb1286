#!/usr/bin/env node
// Tessera bench: Fréchet distance (FID's matrix part) at d = 2048 — @tessera/metrics' pivoted-Cholesky +
// symmetric-eigenvalue route against pytorch-fid's scipy.linalg.sqrtm and numpy's eigh route, run side by
// side on the same matrices when /usr/bin/python3 (or TESSERA_BENCH_PYTHON) has numpy; ours alone
// otherwise. Python runs single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1), like ours. Needs a prior build
// (`npx turbo run build --filter=@tessera/metrics...`).
//
// Environment:
//   TESSERA_BENCH_D       dimension (default 2048, Inception pool features)
//   TESSERA_BENCH_REPS    timed repetitions of ours (default 1; the median is reported)
//   TESSERA_BENCH_PYTHON  python with numpy/scipy (default /usr/bin/python3)
//   TESSERA_BENCH_NO_PY=1 skip the python peers
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frechetDistanceParts } from '@tessera/metrics';
import { lcg, median } from './common.mjs';

const D = Number(process.env.TESSERA_BENCH_D ?? 2048);
const REPS = Math.max(1, Number(process.env.TESSERA_BENCH_REPS ?? 1));
const PY = process.env.TESSERA_BENCH_PYTHON ?? '/usr/bin/python3';

/** A dense SPD matrix: s·ρ^|i−j| (Kac–Murdock–Szegő) plus a rank-16 update Σ uuᵀ/16, from seed. */
function spd(d, rho, s, seed) {
  const k = 16;
  const u = lcg(d * k, seed);
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let v = s * rho ** (j - i);
      for (let q = 0; q < k; q++) v += (u[q * d + i] * u[q * d + j]) / k;
      m[i * d + j] = v;
      m[j * d + i] = v;
    }
  }
  return m;
}

function npy(data, shape) {
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = Buffer.alloc(10 + header.length + data.byteLength);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(out, 0);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 10 + header.length);
  return out;
}

const PY_SCRIPT = `
import sys, time, json
import numpy as np
d = sys.argv[1]
m1, m2 = np.load(d + '/m1.npy'), np.load(d + '/m2.npy')
s1, s2 = np.load(d + '/s1.npy'), np.load(d + '/s2.npy')
diff = m1 - m2
base = diff.dot(diff) + np.trace(s1) + np.trace(s2)
out = {}
t = time.perf_counter(); c = time.process_time()
w, V = np.linalg.eigh(s1)
r = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
tr = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
out['numpy eigh'] = [time.perf_counter() - t, time.process_time() - c, float(base - 2 * tr)]
try:
    import scipy.linalg
    t = time.perf_counter(); c = time.process_time()
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    out['scipy sqrtm (pytorch-fid)'] = [time.perf_counter() - t, time.process_time() - c, float(base - 2 * np.trace(covmean.real))]
except ImportError:
    pass
print(json.dumps(out))
`;

function hasNumpy() {
  if (process.env.TESSERA_BENCH_NO_PY === '1' || !existsSync(PY)) return false;
  const r = spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0;
}

const mu1 = Float64Array.from(lcg(D, 1));
const mu2 = Float64Array.from(lcg(D, 2));
const s1 = spd(D, 0.9, 1, 3);
const s2 = spd(D, 0.7, 0.5, 4);

console.log(`Fréchet distance, d = ${D} (dense SPD covariances), single-threaded`);
let value = Number.NaN;
let ours = Number.NaN;
let oursCpu = Number.NaN;
const fmt = (wall, cpu) => `${wall.toFixed(2).padStart(6)} s wall ${cpu.toFixed(2).padStart(6)} s cpu`;
try {
  // Warm-up (WebAssembly compile, JIT) on a small problem, as numpy's libraries are already loaded.
  frechetDistanceParts(
    { mu: mu1.subarray(0, 64), sigma: spd(64, 0.9, 1, 5) },
    { mu: mu2.subarray(0, 64), sigma: spd(64, 0.7, 1, 6) },
  );
  const times = [];
  const cpus = [];
  let rank = 0;
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const p = frechetDistanceParts({ mu: mu1, sigma: s1 }, { mu: mu2, sigma: s2 });
    const c = process.cpuUsage(c0);
    times.push((performance.now() - t0) / 1000);
    cpus.push((c.user + c.system) / 1e6);
    value = p.distance;
    rank = p.rank1;
  }
  ours = median(times);
  oursCpu = median(cpus);
  console.log(
    `  ours (@tessera/metrics)     ${fmt(ours, oursCpu)}   FD = ${value.toPrecision(12)} (rank ${rank})`,
  );
} catch (err) {
  console.log(`  [fail] ours: ${err?.stack ?? err}`);
}

if (Number.isFinite(ours) && hasNumpy()) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-frechet-'));
  try {
    writeFileSync(join(dir, 'm1.npy'), npy(mu1, [D]));
    writeFileSync(join(dir, 'm2.npy'), npy(mu2, [D]));
    writeFileSync(join(dir, 's1.npy'), npy(s1, [D, D]));
    writeFileSync(join(dir, 's2.npy'), npy(s2, [D, D]));
    const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const r = spawnSync(PY, ['-c', PY_SCRIPT, dir], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      console.log(`  [skip] python peers failed: ${(r.stderr || '').trim().split('\n').pop()}`);
    } else {
      const peers = JSON.parse(r.stdout.trim().split('\n').pop());
      for (const [name, [sec, cpu, fd]] of Object.entries(peers)) {
        const rel = Math.abs(fd - value) / Math.abs(value);
        console.log(
          `  ${name.padEnd(27)} ${fmt(sec, cpu)}   FD = ${fd.toPrecision(12)}   speed-up of ours: ` +
            `${(sec / ours).toFixed(2)}× wall, ${(cpu / oursCpu).toFixed(2)}× cpu; |Δ|/FD = ${rel.toExponential(1)}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  console.log(`  [skip] python peers: no numpy at ${PY} (ours alone)`);
}
