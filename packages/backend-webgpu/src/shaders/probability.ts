import { kernel } from './common.js';
import { MATH } from './math.js';
import { PHILOX } from './random.js';

/** min-p filter and categorical sampling over rows of the last axis. */

/** Keeps v ≥ rowMax + log p. Params: [n, len, log p]. */
export const MINP_SOURCE = kernel({
  inputs: [
    ['X', 'f32'],
    ['Mx', 'f32'],
  ],
  output: ['O', 'f32'],
  extra: MATH,
  body: `if (i >= P[0]) { return; }
  let v = X[i];
  O[i] = select(-m_inf(), v, v >= Mx[i / P[1]] + pf(2u));`,
});

/**
 * One draw per row (one invocation per row): u = rand word (offset + row); the first index whose
 * running sum of exp(v − max) exceeds u·total. Params: [rows, len, seedLo, seedHi, offLo, offHi].
 */
export const SAMPLE_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'i32'],
  extra: PHILOX + MATH,
  body: `if (i >= P[0]) { return; }
  let len = P[1];
  let base = i * len;
  var m = -m_inf();
  for (var k = 0u; k < len; k++) { let v = X[base + k]; if (v > m || m_isnan(v)) { m = v; } }
  var pick = -1i;
  if (!(m_isinf(m) && m < 0.0)) {
    var total = 0.0;
    for (var k = 0u; k < len; k++) { total += m_exp(X[base + k] - m); }
    let u = unif(word_at(add64(P[4], P[5], i), vec2<u32>(P[2], P[3])));
    let goal = u * total;
    var cum = 0.0;
    for (var k = 0u; k < len; k++) {
      let e = m_exp(X[base + k] - m);
      if (e > 0.0) { pick = i32(k); }
      cum += e;
      if (cum > goal && e > 0.0) { break; }
    }
  }
  O[i] = max(pick, 0i);`,
});
