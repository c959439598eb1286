/**
 * A 5×7 bitmap font for the digits 0–9 (our own glyphs), and its conversion to stroke segments: every
 * pair of 8-connected "on" cells becomes a segment between the cell centres (diagonals only where no
 * orthogonal path exists), so glyphs can be rendered at any size and stroke width.
 */

/** Rows of each glyph, top to bottom; `#` = ink. */
export const DIGIT_GLYPHS: readonly (readonly string[])[] = [
  ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  ['.###.', '#...#', '....#', '..##.', '....#', '#...#', '.###.'],
  ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
];

/** Glyph grid size. */
export const GLYPH_COLS = 5;
export const GLYPH_ROWS = 7;

/** A segment in glyph units: cell centres at (c + 0.5, r + 0.5). */
export type Segment = readonly [x0: number, y0: number, x1: number, y1: number];

function strokes(glyph: readonly string[]): Segment[] {
  const on = (c: number, r: number) =>
    r >= 0 && r < GLYPH_ROWS && c >= 0 && c < GLYPH_COLS && glyph[r]![c] === '#';
  const segs: Segment[] = [];
  for (let r = 0; r < GLYPH_ROWS; r++) {
    for (let c = 0; c < GLYPH_COLS; c++) {
      if (!on(c, r)) continue;
      const x = c + 0.5;
      const y = r + 0.5;
      let linked = false;
      if (on(c + 1, r)) segs.push([x, y, x + 1, y]);
      if (on(c, r + 1)) segs.push([x, y, x, y + 1]);
      if (on(c + 1, r + 1) && !on(c + 1, r) && !on(c, r + 1)) segs.push([x, y, x + 1, y + 1]);
      if (on(c - 1, r + 1) && !on(c - 1, r) && !on(c, r + 1)) segs.push([x, y, x - 1, y + 1]);
      for (const [dc, dr] of [
        [1, 0],
        [0, 1],
        [-1, 0],
        [0, -1],
        [1, 1],
        [-1, 1],
        [1, -1],
        [-1, -1],
      ] as const)
        linked ||= on(c + dc, r + dr);
      if (!linked) segs.push([x, y, x, y]);
    }
  }
  return segs;
}

/** Stroke segments of each digit 0–9, in glyph units (x in [0, 5], y in [0, 7]). */
export const DIGIT_STROKES: readonly Segment[][] = DIGIT_GLYPHS.map(strokes);
