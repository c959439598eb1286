// Test helper shared by every package: a small seeded generator for test inputs (mulberry32), so fresh
// random inputs are reproducible from the seed a failing test prints. Independent of the code under test
// (the library's own randomness is Philox4x32-10).

/** mulberry32: uniform draws in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
