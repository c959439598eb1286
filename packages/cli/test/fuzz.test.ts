// Fuzzing the CLI's flags (issue 13): any mix of known and unknown flags, good, bad and extreme values
// ends with exit 0, 1 or 2 and, on failure, one line that is not an internal error; nothing hangs.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createProgress, generateAr, generateDiffusion, runCli, UsageError } from '@tessera/cli';
import { createCpuBackend, TesseraError } from '@tessera/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
const dir = mkdtempSync(join(tmpdir(), 'tessera-fuzz-'));

/** Values a user might type: small valid ones (so real, short runs happen too) and every kind of junk. */
const value = fc.oneof(
  fc.constantFrom('1', '2', '3', '0', '-1', '0.5', '1e3', '1e20', '0x10', '', ' ', 'NaN', 'Infinity', '-0'),
  fc.constantFrom('euler', 'dpmpp_2m', 'raster', 'masked', 'next-scale', 'cpu', 'nope', 'missing.json'),
  fc.constantFrom('digits-unet', 'digits-gpt', 'digits-var', 'reference', 'x.onnx'),
  fc.integer({ min: -5, max: 40 }).map(String),
  fc.string({ maxLength: 4 }),
);
/** Each command's flags (boolean ones too); a draw sometimes adds an unknown flag. */
const FLAGS: Record<string, string[]> = {
  'generate diffusion': [
    '--steps',
    '--count',
    '--seed',
    '--zoom',
    '--sampler',
    '--digit',
    '--guidance',
    '--scheduler-config',
    '--model',
    '--quiet',
    '--force',
  ],
  'generate ar': [
    '--decoder',
    '--seed',
    '--count',
    '--label',
    '--digit',
    '--guidance',
    '--temperature',
    '--top-k',
    '--top-p',
    '--iters',
    '--model',
    '--zoom',
    '--quiet',
    '--force',
  ],
  schedule: ['--steps', '--class', '--scheduler-config'],
  'export-model': ['--kind', '--force'],
  fid: ['--stats', '--model', '--resize', '--kid-subsets', '--kid-subset-size', '--seed'],
  generate: ['--steps'],
  frobnicate: ['--steps'],
};
const draw = fc
  .constantFrom(...Object.keys(FLAGS))
  .chain((cmd) =>
    fc.tuple(
      fc.constant(cmd),
      fc.array(
        fc.tuple(
          fc.oneof(
            { arbitrary: fc.constantFrom(...FLAGS[cmd]!), weight: 9 },
            { arbitrary: fc.constantFrom('--bogus', '-x', '--Steps'), weight: 1 },
          ),
          value,
        ),
        { maxLength: 4 },
      ),
    ),
  );

describe(`CLI flag fuzz (seed ${seed})`, () => {
  it('exit codes stay 0/1/2, failures are one clean line, within bounded time', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(draw, async ([name, pairs]) => {
        n++;
        const cmd = name.split(' ');
        // a boolean flag takes no value: send it alone
        const flat = pairs.flatMap(([f, v]) => (f === '--quiet' || f === '--force' ? [f] : [f, v]));
        // CPU only, and every run writes its own file: the fuzz tests parsing and checks, not devices
        const args = [...cmd, ...flat, '--backend', 'cpu', '--out', join(dir, `f${n}.out`)];
        // bound the work a valid draw can ask for: small step and image counts win (last flag wins)
        if (cmd[1] === 'diffusion') args.push('--steps', '2', '--count', '1');
        if (cmd[1] === 'ar') args.push('--count', '1');
        if (cmd[0] === 'schedule') args.splice(args.indexOf('--backend'), 4);
        if (cmd[0] === 'export-model') args.splice(args.indexOf('--backend'), 2);
        // fid takes two folders (here: one holding no PNGs, and one that does not exist) and no --out
        if (cmd[0] === 'fid') args.splice(args.indexOf('--backend'), 4, dir, join(dir, 'none'));
        const out: string[] = [];
        const err: string[] = [];
        const code = await runCli(
          args,
          (l) => out.push(l),
          (l) => err.push(l),
        );
        const what = `${args.join(' ')} (seed ${seed})`;
        expect([0, 1, 2], what).toContain(code);
        if (process.env.FUZZ_LOG) console.log(code, args.join(' '), err[0] ?? '');
        if (code !== 0) {
          expect(err, what).toHaveLength(1);
          expect(err[0], what).toMatch(/^tessera: /);
          expect(err[0], what).not.toMatch(/internal error|TypeError|RangeError|\n/);
        } else expect(err, what).toEqual([]);
      }),
      { seed, numRuns: 300, interruptAfterTimeLimit: 25_000 },
    );
    expect(n).toBeGreaterThan(20);
  });
});

describe(`library job fuzz (seed ${seed})`, () => {
  it('generateDiffusion/generateAr: a result or a UsageError/TesseraError, and no tensor left behind', async () => {
    const B = createCpuBackend();
    const junk = fc.constantFrom<unknown>(
      -1,
      0,
      1.5,
      1e9,
      2 ** 53,
      Number.NaN,
      Infinity,
      '2',
      null,
      undefined,
    );
    const small = (lo: number, hi: number) =>
      fc.oneof({ arbitrary: fc.integer({ min: lo, max: hi }), weight: 3 }, junk);
    const fields = (wild: boolean) => {
      const pick = <T>(good: fc.Arbitrary<T>) => (wild ? fc.oneof(good, junk) : good);
      return fc.record({
        steps: wild ? small(1, 3) : fc.integer({ min: 1, max: 3 }),
        count: wild ? small(1, 2) : fc.integer({ min: 1, max: 2 }),
        seed: pick(fc.nat()),
        guidance: pick(fc.constantFrom(1, 2, 0)),
        digit: pick(fc.constantFrom(undefined, 0, 9)),
        numIter: pick(fc.constantFrom(undefined, 2)),
        label: pick(fc.constantFrom(undefined, 1)),
        decoder: fc.constantFrom('raster', 'next-scale', 'masked'),
        sampler: wild
          ? fc.constantFrom('euler', 'dpmpp_2m', 'ddim', 'nope')
          : fc.constantFrom('euler', 'dpmpp_2m', 'ddim'),
      });
    };
    // a third of the jobs draw valid values only, so real runs are a fixed share however few draws fit
    // in the time limit on a loaded machine (with junk in every field, about one job in twenty is valid)
    const job = fc.oneof({ arbitrary: fields(false), weight: 1 }, { arbitrary: fields(true), weight: 2 });
    const ok = { diffusion: 0, ar: 0 };
    // the shared full-mixture denoiser keeps its parameters on the backend (uploaded once); every run
    // beyond that must leave the live tensor count where it was
    (
      await generateDiffusion({ backend: B, sampler: 'euler', steps: 1, seed: 0, count: 1, guidance: 1 })
    ).images.dispose();
    const base = B.memory().tensors;
    await fc.assert(
      fc.asyncProperty(job, async (j) => {
        const what = `${JSON.stringify(j)} (seed ${seed})`;
        for (const kind of ['diffusion', 'ar'] as const) {
          try {
            if (kind === 'diffusion') {
              const r = await generateDiffusion({ ...(j as object), backend: B } as never);
              r.images.dispose();
            } else {
              const r = await generateAr({
                ...(j as object),
                backend: B,
                sampling: { temperature: 1 },
              } as never);
              for (const t of [r.tokens, ...(r.scales ?? [])]) t.dispose();
            }
            ok[kind]++;
          } catch (e) {
            expect(
              e instanceof UsageError || e instanceof TesseraError,
              `${kind} ${what}: ${String(e)}`,
            ).toBe(true);
          }
          expect(B.memory().tensors, `${kind} ${what}`).toBe(base);
        }
      }),
      { seed, numRuns: 80, interruptAfterTimeLimit: 20_000 },
    );
    if (process.env.FUZZ_LOG) console.log('valid runs', ok);
    // not vacuous: valid jobs ran too
    expect(ok.diffusion, JSON.stringify(ok)).toBeGreaterThan(5);
    expect(ok.ar, JSON.stringify(ok)).toBeGreaterThan(5);
  });
});

describe('progress bar (cli-progress)', () => {
  /** A fake terminal that records what is drawn. */
  function terminal(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text: () => string } {
    const chunks: string[] = [];
    const w = new Writable({
      write(c, _e, cb) {
        chunks.push(String(c));
        cb();
      },
    }) as Writable & { isTTY: boolean; columns: number; text: () => string };
    w.isTTY = isTTY;
    w.columns = 120;
    w.text = () => chunks.join('');
    // readline's cursor helpers call these on a TTY stream
    Object.assign(w, { cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    return w;
  }

  it('draws steps, total, rate and ETA on a terminal, nothing when not a terminal or --quiet', () => {
    const total = 7 + (seed % 5);
    const tty = terminal(true);
    const bar = createProgress('euler', total, { stream: tty });
    for (let i = 1; i <= total; i++) bar.tick(i);
    bar.stop();
    bar.stop();
    const shown = tty.text().replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
    expect(shown).toContain(`${total}/${total} steps`);
    expect(shown).toMatch(/[\d.]+ steps\/s/);
    expect(shown).toContain('ETA');
    for (const [isTTY, quiet] of [
      [false, false],
      [true, true],
    ] as const) {
      const s = terminal(isTTY);
      const b = createProgress('euler', total, { stream: s, quiet });
      b.tick(1);
      b.stop();
      expect(s.text(), `isTTY ${isTTY}, quiet ${quiet}`).toBe('');
    }
  });
});
