/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
 * generator of Random123, cuRAND and PyTorch. Pure integer arithmetic, so every backend gets the same bits.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32 bits of the 64-bit product of two uint32 values. */
function mulhilo(a: number, b: number): [number, number] {
  const lo = Math.imul(a, b) >>> 0;
  // split a into 16-bit halves to get the high word exactly in doubles
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const hi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
  return [hi, lo];
}

/**
 * One Philox4x32 block with `rounds` rounds (10 is the standard). Writes the four output words into
 * `out` (or a new array) and returns it.
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
  rounds = 10,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n1 = lo1;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    const n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** Splits a non-negative integer below 2⁵³ into [low 32 bits, high bits]. */
export function split64(x: number): [number, number] {
  return [x >>> 0, Math.floor(x / 4294967296) >>> 0];
}

/**
 * Words `offset … offset+count-1` of the Philox4x32-10 stream of `seed` (see `RandomOptions`).
 */
export function philoxWords(seed: number, offset: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  const key = split64(seed);
  const block = new Uint32Array(4);
  let j = offset;
  let b = -1;
  for (let i = 0; i < count; i++, j++) {
    const bj = Math.floor(j / 4);
    if (bj !== b) {
      b = bj;
      const [lo, hi] = split64(b);
      philox4x32([lo, hi, 0, 0], key, 10, block);
    }
    out[i] = block[j % 4]!;
  }
  return out;
}

/** The uniform float in (0, 1) that a word maps to: ((w >>> 9) + 0.5) · 2⁻²³ (exact in float32). */
export function wordToUniform(w: number): number {
  return ((w >>> 9) + 0.5) * 1.1920928955078125e-7;
}

/** Box–Muller normal from two words, in float64: √(−2 ln u₁)·cos(2π u₂). */
export function wordsToNormal(w1: number, w2: number): number {
  const u1 = wordToUniform(w1);
  const u2 = wordToUniform(w2);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
