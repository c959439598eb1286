/** Per-image seeds: image i of a job always draws from the same Philox streams, whatever the sharding. */

const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;

/**
 * Output number `n` (0-based) of Vigna's SplitMix64 generator started from state `seed`: the state after
 * n + 1 increments by the golden gamma, passed through the finaliser. Returned as a BigInt in [0, 2⁶⁴).
 */
export function splitmix64(seed: bigint, n: number): bigint {
  let z = (seed + BigInt(n + 1) * GAMMA) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * The Philox seed of image `index` of a job with base seed `baseSeed`: the index-th SplitMix64 output of
 * the base seed, cut to its top 53 bits so it is a safe integer every backend's `randn` accepts. The
 * image's start noise is the Philox stream of this seed from word 0; its sampler noise comes after it.
 */
export function imageSeed(baseSeed: number, index: number): number {
  return Number(splitmix64(BigInt(baseSeed), index) >> 11n);
}
