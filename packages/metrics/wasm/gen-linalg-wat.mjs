#!/usr/bin/env node
// Writes linalg.wat: the float64 SIMD (f64x2) kernels behind @tessera/metrics' Fréchet distance. The
// text is generated because the 4×4 register tiles repeat one line per accumulator. Run
// `node wasm/build.mjs` (in packages/metrics) to regenerate linalg.wat and src/wasm-linalg-bytes.ts.
//
// All pointers are byte offsets into the imported memory; matrices are row-major float64.

const R = [0, 1, 2, 3];
const lines = [];
const emit = (s) => lines.push(s);

emit('(module');
emit('  (import "env" "memory" (memory 1))');

// dot4x4: out[r*ldo + c] += Σ_{t<kc} x[r*ldx + t] · y[c*ldy + t] for r, c < 4 (x, y at the k start).
emit(
  '  (func (export "dot4x4") (param $x i32) (param $y i32) (param $ldx i32) (param $ldy i32) (param $kc i32) (param $out i32) (param $ldo i32)',
);
emit('    (local $t i32) (local $end i32) (local $s f64)');
for (const r of R)
  emit(`    (local $x${r} i32) (local $y${r} i32) (local $vx${r} v128) (local $vy${r} v128)`);
for (const r of R) for (const c of R) emit(`    (local $a${r}${c} v128)`);
for (const r of R) {
  emit(`    (local.set $x${r} (i32.add (local.get $x) (i32.mul (local.get $ldx) (i32.const ${r}))))`);
  emit(`    (local.set $y${r} (i32.add (local.get $y) (i32.mul (local.get $ldy) (i32.const ${r}))))`);
}
emit('    (local.set $end (i32.shl (i32.and (local.get $kc) (i32.const -2)) (i32.const 3)))');
emit('    (local.set $t (i32.const 0))');
emit('    (block $done (loop $k');
emit('      (br_if $done (i32.ge_u (local.get $t) (local.get $end)))');
for (const r of R) {
  emit(`      (local.set $vx${r} (v128.load align=8 (i32.add (local.get $x${r}) (local.get $t))))`);
  emit(`      (local.set $vy${r} (v128.load align=8 (i32.add (local.get $y${r}) (local.get $t))))`);
}
for (const r of R)
  for (const c of R)
    emit(
      `      (local.set $a${r}${c} (f64x2.add (local.get $a${r}${c}) (f64x2.mul (local.get $vx${r}) (local.get $vy${c}))))`,
    );
emit('      (local.set $t (i32.add (local.get $t) (i32.const 16)))');
emit('      (br $k)))');
// Odd kc: the last column, as a scalar in lane 0.
emit('    (if (i32.and (local.get $kc) (i32.const 1)) (then');
for (const r of R) {
  emit(
    `      (local.set $vx${r} (f64x2.replace_lane 1 (v128.load64_zero align=8 (i32.add (local.get $x${r}) (local.get $end))) (f64.const 0)))`,
  );
  emit(`      (local.set $vy${r} (v128.load64_zero align=8 (i32.add (local.get $y${r}) (local.get $end))))`);
}
for (const r of R)
  for (const c of R)
    emit(
      `      (local.set $a${r}${c} (f64x2.add (local.get $a${r}${c}) (f64x2.mul (local.get $vx${r}) (local.get $vy${c}))))`,
    );
emit('    ))');
for (const r of R)
  for (const c of R) {
    const addr = `(i32.add (local.get $out) (i32.add (i32.mul (local.get $ldo) (i32.const ${r})) (i32.const ${8 * c})))`;
    emit(
      `    (f64.store ${addr} (f64.add (f64.load ${addr}) (f64.add (f64x2.extract_lane 0 (local.get $a${r}${c})) (f64x2.extract_lane 1 (local.get $a${r}${c})))))`,
    );
  }
emit('  )');

// rowdots: out[i] = Σ_{m<k} L[i][m]·L[k][m] for i in [i0, i1) (L rows of ld bytes, starting at l).
emit(
  '  (func (export "rowdots") (param $l i32) (param $ld i32) (param $krow i32) (param $k i32) (param $i0 i32) (param $i1 i32) (param $out i32)',
);
emit('    (local $i i32) (local $t i32) (local $end i32) (local $vk v128) (local $base i32)');
for (const r of R) emit(`    (local $p${r} i32) (local $s${r} v128)`);
emit('    (local.set $end (i32.shl (i32.and (local.get $k) (i32.const -2)) (i32.const 3)))');
emit('    (local.set $i (local.get $i0))');
emit('    (block $rows_done (loop $rows');
emit('      (br_if $rows_done (i32.ge_s (local.get $i) (local.get $i1)))');
emit('      (local.set $base (i32.add (local.get $l) (i32.mul (local.get $i) (local.get $ld))))');
for (const r of R) {
  emit(`      (local.set $p${r} (i32.add (local.get $base) (i32.mul (local.get $ld) (i32.const ${r}))))`);
  emit(`      (local.set $s${r} (v128.const f64x2 0 0))`);
}
emit('      (local.set $t (i32.const 0))');
emit('      (block $d (loop $m');
emit('        (br_if $d (i32.ge_u (local.get $t) (local.get $end)))');
emit('        (local.set $vk (v128.load align=8 (i32.add (local.get $krow) (local.get $t))))');
for (const r of R)
  emit(
    `        (local.set $s${r} (f64x2.add (local.get $s${r}) (f64x2.mul (local.get $vk) (v128.load align=8 (i32.add (local.get $p${r}) (local.get $t))))))`,
  );
emit('        (local.set $t (i32.add (local.get $t) (i32.const 16)))');
emit('        (br $m)))');
emit('      (if (i32.and (local.get $k) (i32.const 1)) (then');
emit('        (local.set $vk (v128.load64_zero align=8 (i32.add (local.get $krow) (local.get $end))))');
for (const r of R)
  emit(
    `        (local.set $s${r} (f64x2.add (local.get $s${r}) (f64x2.mul (local.get $vk) (v128.load64_zero align=8 (i32.add (local.get $p${r}) (local.get $end))))))`,
  );
emit('      ))');
// Store only the rows inside [i0, i1): the block may run past i1 (its loads stay inside the buffer as
// the caller sizes it for n rows and i1 = n).
for (const r of R) {
  emit(`      (if (i32.lt_s (i32.add (local.get $i) (i32.const ${r})) (local.get $i1)) (then`);
  emit(
    `        (f64.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 3))) (f64.add (f64x2.extract_lane 0 (local.get $s${r})) (f64x2.extract_lane 1 (local.get $s${r}))))))`,
  );
}
emit('      (local.set $i (i32.add (local.get $i) (i32.const 4)))');
emit('      (br $rows)))');
emit('  )');

// rowspan: row i, columns [j0, j1) (j0 ≥ i) of the fused tridiagonal sweep (see linalg.ts): applies
// a_ij −= u_i w_j + w_i u_j, adds a_ij·x_i into p_j for j ≠ i and returns Σ_j a_ij·x_j.
emit(
  '  (func $rowspan (param $a i32) (param $n i32) (param $i i32) (param $j0 i32) (param $j1 i32) (param $u i32) (param $w i32) (param $x i32) (param $p i32) (result f64)',
);
emit(
  '    (local $j i32) (local $r i32) (local $ui f64) (local $wi f64) (local $xi f64) (local $aij f64) (local $acc f64) (local $o i32)',
);
emit(
  '    (local.set $r (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 3))))',
);
emit('    (local.set $o (i32.shl (local.get $i) (i32.const 3)))');
emit('    (local.set $ui (f64.load (i32.add (local.get $u) (local.get $o))))');
emit('    (local.set $wi (f64.load (i32.add (local.get $w) (local.get $o))))');
emit('    (local.set $xi (f64.load (i32.add (local.get $x) (local.get $o))))');
emit('    (local.set $j (local.get $j0))');
emit('    (block $d (loop $l');
emit('      (br_if $d (i32.ge_s (local.get $j) (local.get $j1)))');
emit('      (local.set $o (i32.shl (local.get $j) (i32.const 3)))');
emit('      (local.set $aij (f64.sub (f64.sub (f64.load (i32.add (local.get $r) (local.get $o)))');
emit('        (f64.mul (local.get $ui) (f64.load (i32.add (local.get $w) (local.get $o)))))');
emit('        (f64.mul (local.get $wi) (f64.load (i32.add (local.get $u) (local.get $o))))))');
emit('      (f64.store (i32.add (local.get $r) (local.get $o)) (local.get $aij))');
emit(
  '      (local.set $acc (f64.add (local.get $acc) (f64.mul (local.get $aij) (f64.load (i32.add (local.get $x) (local.get $o))))))',
);
emit('      (if (i32.ne (local.get $j) (local.get $i)) (then');
emit(
  '        (f64.store (i32.add (local.get $p) (local.get $o)) (f64.add (f64.load (i32.add (local.get $p) (local.get $o))) (f64.mul (local.get $aij) (local.get $xi))))))',
);
emit('      (local.set $j (i32.add (local.get $j) (i32.const 1)))');
emit('      (br $l)))');
emit('    (local.get $acc)');
emit('  )');

// sweep: the fused rank-2 update + symmetric mat-vec over rows [s, n) (upper triangle), four rows at a
// time with the columns in f64x2 pairs; p[s:] must be zero on entry.
emit(
  '  (func (export "sweep") (param $a i32) (param $n i32) (param $s i32) (param $u i32) (param $w i32) (param $x i32) (param $p i32)',
);
emit('    (local $i i32) (local $q i32) (local $j i32) (local $o i32) (local $tail f64)');
emit('    (local $wj v128) (local $uj v128) (local $xj v128) (local $pv v128)');
for (const r of R)
  emit(
    `    (local $r${r} i32) (local $U${r} v128) (local $W${r} v128) (local $X${r} v128) (local $A${r} v128) (local $acc${r} v128) (local $t${r} f64)`,
  );
emit('    (local.set $i (local.get $s))');
emit('    (block $blocks_done (loop $blocks');
emit('      (br_if $blocks_done (i32.ge_s (i32.add (local.get $i) (i32.const 3)) (local.get $n)))');
// The 4×4 corner, scalar.
emit('      (local.set $q (local.get $i))');
emit('      (block $cd (loop $c');
emit('        (br_if $cd (i32.ge_s (local.get $q) (i32.add (local.get $i) (i32.const 4))))');
emit('        (local.set $o (i32.add (local.get $p) (i32.shl (local.get $q) (i32.const 3))))');
emit(
  '        (f64.store (local.get $o) (f64.add (f64.load (local.get $o)) (call $rowspan (local.get $a) (local.get $n) (local.get $q) (local.get $q) (i32.add (local.get $i) (i32.const 4)) (local.get $u) (local.get $w) (local.get $x) (local.get $p))))',
);
emit('        (local.set $q (i32.add (local.get $q) (i32.const 1)))');
emit('        (br $c)))');
for (const r of R) {
  emit(`      (local.set $o (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 3)))`);
  emit(
    `      (local.set $r${r} (i32.add (local.get $a) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $n)) (i32.const 3))))`,
  );
  emit(`      (local.set $U${r} (f64x2.splat (f64.load (i32.add (local.get $u) (local.get $o)))))`);
  emit(`      (local.set $W${r} (f64x2.splat (f64.load (i32.add (local.get $w) (local.get $o)))))`);
  emit(`      (local.set $X${r} (f64x2.splat (f64.load (i32.add (local.get $x) (local.get $o)))))`);
  emit(`      (local.set $acc${r} (v128.const f64x2 0 0))`);
  emit(`      (local.set $t${r} (f64.const 0))`);
}
emit('      (local.set $j (i32.add (local.get $i) (i32.const 4)))');
emit('      (block $vd (loop $v');
emit('        (br_if $vd (i32.ge_s (i32.add (local.get $j) (i32.const 1)) (local.get $n)))');
emit('        (local.set $o (i32.shl (local.get $j) (i32.const 3)))');
emit('        (local.set $wj (v128.load align=8 (i32.add (local.get $w) (local.get $o))))');
emit('        (local.set $uj (v128.load align=8 (i32.add (local.get $u) (local.get $o))))');
emit('        (local.set $xj (v128.load align=8 (i32.add (local.get $x) (local.get $o))))');
for (const r of R) {
  emit(
    `        (local.set $A${r} (f64x2.sub (f64x2.sub (v128.load align=8 (i32.add (local.get $r${r}) (local.get $o)))`,
  );
  emit(
    `          (f64x2.mul (local.get $U${r}) (local.get $wj))) (f64x2.mul (local.get $W${r}) (local.get $uj))))`,
  );
  emit(`        (v128.store align=8 (i32.add (local.get $r${r}) (local.get $o)) (local.get $A${r}))`);
  emit(
    `        (local.set $acc${r} (f64x2.add (local.get $acc${r}) (f64x2.mul (local.get $A${r}) (local.get $xj))))`,
  );
}
emit('        (local.set $pv (v128.load align=8 (i32.add (local.get $p) (local.get $o))))');
emit(
  '        (local.set $pv (f64x2.add (local.get $pv) (f64x2.add (f64x2.add (f64x2.mul (local.get $A0) (local.get $X0)) (f64x2.mul (local.get $A1) (local.get $X1)))',
);
emit(
  '          (f64x2.add (f64x2.mul (local.get $A2) (local.get $X2)) (f64x2.mul (local.get $A3) (local.get $X3))))))',
);
emit('        (v128.store align=8 (i32.add (local.get $p) (local.get $o)) (local.get $pv))');
emit('        (local.set $j (i32.add (local.get $j) (i32.const 2)))');
emit('        (br $v)))');
// Odd last column: the scalar row spans do it (they also add into p[j]).
emit('      (if (i32.lt_s (local.get $j) (local.get $n)) (then');
for (const r of R)
  emit(
    `        (local.set $t${r} (call $rowspan (local.get $a) (local.get $n) (i32.add (local.get $i) (i32.const ${r})) (local.get $j) (local.get $n) (local.get $u) (local.get $w) (local.get $x) (local.get $p)))`,
  );
emit('      ))');
for (const r of R) {
  emit(
    `      (local.set $o (i32.add (local.get $p) (i32.shl (i32.add (local.get $i) (i32.const ${r})) (i32.const 3))))`,
  );
  emit(
    `      (f64.store (local.get $o) (f64.add (f64.load (local.get $o)) (f64.add (local.get $t${r}) (f64.add (f64x2.extract_lane 0 (local.get $acc${r})) (f64x2.extract_lane 1 (local.get $acc${r}))))))`,
  );
}
emit('      (local.set $i (i32.add (local.get $i) (i32.const 4)))');
emit('      (br $blocks)))');
emit('    (block $rd (loop $rl');
emit('      (br_if $rd (i32.ge_s (local.get $i) (local.get $n)))');
emit('      (local.set $o (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))');
emit(
  '      (f64.store (local.get $o) (f64.add (f64.load (local.get $o)) (call $rowspan (local.get $a) (local.get $n) (local.get $i) (local.get $i) (local.get $n) (local.get $u) (local.get $w) (local.get $x) (local.get $p))))',
);
emit('      (local.set $i (i32.add (local.get $i) (i32.const 1)))');
emit('      (br $rl)))');
emit('  )');
emit(')');

process.stdout.write(`${lines.join('\n')}\n`);
