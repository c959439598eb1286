/**
 * numpy's legacy `RandomState` as far as KID needs it: the MT19937 generator seeded from one 32-bit
 * integer (`init_genrand`), `random_interval` (masked rejection) and `choice(n, size, replace=False)`,
 * which numpy computes as `permutation(n)[:size]` with a Fisher–Yates shuffle from the last element
 * down. The same seed therefore draws the same subsets as torch-fidelity's `kid_features_to_metric`.
 */

const N = 624;
const M = 397;

/** An MT19937 state seeded as `np.random.RandomState(seed)` seeds it for an integer seed. */
export class Mt19937 {
  private readonly mt = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 · prev + i modulo 2³² (Math.imul keeps the low 32 bits exactly)
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next 32-bit output (`genrand_int32`). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % N]! & 0x7fffffff);
        mt[k] = mt[(k + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform integer in [0, max] for max < 2³² by masked rejection, as numpy's `random_interval`. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    for (;;) {
      const v = (this.nextUint32() & mask) >>> 0;
      if (v <= max) return v;
    }
  }

  /** `choice(n, size, replace=False)`: the first `size` entries of a shuffled `arange(n)`. */
  choice(n: number, size: number): Int32Array {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    for (let i = n - 1; i >= 1; i--) {
      const j = this.interval(i);
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
    }
    return idx.slice(0, size);
  }
}
