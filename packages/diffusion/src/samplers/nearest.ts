/** Levenshtein edit distance between `a` and `b` (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The entry of `known` nearest to `name` by edit distance (case-insensitive; ties: the first), or
 * undefined when even that one differs in more than half of `name`'s characters.
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.ceil(name.length / 2)) ? best : undefined;
}

/** ` (did you mean 'x'?)` for the nearest known name, or an empty string. */
export function didYouMean(name: string, known: readonly string[]): string {
  const n = nearestName(name, known);
  return n === undefined ? '' : ` (did you mean '${n}'?)`;
}
