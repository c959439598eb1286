// Issue 13: each bad or extreme input a new user tried, run on the real `tessera` program (a child
// process): a one-line message naming what was asked and what is allowed, the documented exit code
// (0 done, 1 runtime failure, 2 usage error), nothing hangs, no file is lost.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, cliRoot, type Run, runBin } from './helpers.js';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
const note = `TESSERA_TEST_SEED=${seed}`;
let bin = '';
let cwd = '';
beforeAll(async () => {
  bin = await bundleCli();
  cwd = mkdtempSync(join(tmpdir(), 'tessera-rel-'));
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** One line on stderr starting with `tessera: `, no stack, no internal error, naming each of `parts`. */
function expectOneLine(r: Run, code: number, parts: string[], what: string): void {
  expect(r.code, `${what}: ${r.err.join(' | ')}`).toBe(code);
  expect(r.err, what).toHaveLength(1);
  expect(r.err[0], what).toMatch(/^tessera: /);
  expect(r.err[0], what).not.toMatch(
    /internal error|TypeError|RangeError|\bat \S+:\d+:\d+|randn|typed array/,
  );
  for (const p of parts) expect(r.err[0], what).toContain(p);
}

/** Runs the cases two at a time (the CI machine has two cores). */
async function runAll(cases: string[][], limitMs = 60_000): Promise<Run[]> {
  const out: Run[] = [];
  for (let i = 0; i < cases.length; i += 2) {
    out.push(...(await Promise.all(cases.slice(i, i + 2).map((a) => runBin(bin, a, { cwd, limitMs })))));
  }
  return out;
}

describe('usage errors: exit 2 before any work, naming the flag, the value and what is allowed', () => {
  it('silent numbers, limits and ignored flags (items 4, 5, 7, 8)', async () => {
    const D = ['generate', 'diffusion', '--backend', 'cpu'];
    const A = ['generate', 'ar', '--backend', 'cpu'];
    const cases: Array<[string[], string[]]> = [
      [
        [...D, '--seed='],
        ['--seed', "''", '0 to 9007199254740991'],
      ], // was seed 0
      [
        [...D, '--seed', ' '],
        ['--seed', "' '"],
      ], // was seed 0
      [
        [...D, '--steps', '0x10'],
        ['--steps', "'0x10'", '1 to 10000'],
      ], // was 16 steps
      [
        [...A, '--top-p', '0'],
        ['--top-p', '(0, 1]', "'0'"],
      ], // was accepted
      [
        [...D, '--seed', '1e20'],
        ['--seed', "'1e20'"],
      ], // was "randn: seed must be…"
      [
        [...D, '--seed', '100000000000000000000'],
        ['--seed', '9007199254740991'],
      ],
      [
        [...D, '--steps', '1e9'],
        ['--steps', "'1e9'"],
      ], // ran without end
      [
        [...D, '--steps', '10000000', '--count', '1'],
        ['--steps', '10000'],
      ],
      [[...D, '--steps', '1e20'], ['--steps']], // was "Invalid typed array length"
      [
        [...D, '--count', '1e9'],
        ['--count', '1024'],
      ], // was "Invalid typed array length"
      [
        [...D, '--zoom', '100000'],
        ['--zoom', '64'],
      ], // was "Invalid typed array length"
      [
        [...D, '--count', '1024', '--zoom', '64'],
        ['--count 1024', '--zoom 64', '67,108,864', 'MiB'],
      ],
      [
        ['generate', 'ar', '--count', '100000000'],
        ['--count', '1024'],
      ], // grew to 11 GB
      [
        ['generate', 'ar', '--decoder', 'masked', '--iters', '100000'],
        ['--iters', '256'],
      ], // ran without end
      [
        [...A, '--iters', '4'],
        ['--iters', 'masked', 'next-scale'],
      ], // was ignored
      [
        [...A, '--temperature', 'Infinity'],
        ['--temperature', 'Infinity'],
      ],
      // both flags were dropped and digits mixed, exit 0
      [
        [...D, '--model', 'd.onnx', '--digit', '7', '--guidance', '3'],
        ['--digit', '--guidance', '--model'],
      ],
      [
        [...D, '--model', 'reference', '--guidance', '3'],
        ['--guidance', '--digit'],
      ], // was dropped (the trained U-Net, the default, cycles through the digits and takes guidance)
      [[...D, '--frobnicate'], ['frobnicate']],
    ];
    const runs = await runAll(cases.map(([a]) => a));
    for (const [i, [args, parts]] of cases.entries()) expectOneLine(runs[i]!, 2, parts, args.join(' '));
    expect(readdirSync(cwd), 'nothing written').toEqual([]);
  });
});

describe('runtime failures: exit 1 naming the file, before any sampling (item 8)', () => {
  it('missing and bad config files exit 1 for schedule and generate alike, naming the file', async () => {
    writeFileSync(join(cwd, 'bad.json'), '{ "beta_start": 0.1, ');
    writeFileSync(join(cwd, 'list.json'), '[1, 2]');
    // binary bytes (newlines, control characters) quoted by JSON.parse's message must not break the line
    writeFileSync(
      join(cwd, 'blob.json'),
      new Uint8Array([0x08, 0x07, 0x12, 0x0a, 0x0d, 0x01, 0x74, 0x65, 0x0a, 0x1b]),
    );
    const cases: Array<[string[], string[]]> = [
      [
        ['schedule', '--scheduler-config', 'missing.json'],
        ['missing.json', 'ENOENT'],
      ], // was exit 2
      [['generate', 'diffusion', '--backend', 'cpu', '--scheduler-config', 'missing.json'], ['missing.json']],
      [
        ['schedule', '--scheduler-config', 'bad.json'],
        ['bad.json', 'JSON'],
      ],
      // did not name the file
      [
        ['generate', 'diffusion', '--backend', 'cpu', '--scheduler-config', 'bad.json'],
        ['bad.json', 'JSON'],
      ],
      [
        ['generate', 'diffusion', '--backend', 'cpu', '--scheduler-config', 'list.json'],
        ['list.json', 'array'],
      ],
      [
        ['schedule', '--scheduler-config', 'blob.json'],
        ['blob.json', 'JSON'],
      ],
    ];
    const runs = await runAll(cases.map(([a]) => a));
    for (const [i, [args, parts]] of cases.entries()) {
      expectOneLine(runs[i]!, 1, parts, args.join(' '));
      expect([...runs[i]!.err[0]!].every((c) => c.charCodeAt(0) >= 32)).toBe(true);
    }
  });

  it('an unwritable --out and a showcase --out that is a file fail before sampling', async () => {
    // jobs that would sample for minutes on the CPU: only an up-front check exits within the limit
    const big = ['--backend', 'cpu', '--steps', '10000', '--count', '1024', '--zoom', '1'];
    writeFileSync(join(cwd, 'afile'), 'not a folder');
    const cases: Array<[string[], string[]]> = [
      [['generate', 'diffusion', ...big, '--out', '/proc/x.png'], ['/proc/x.png']],
      [['generate', 'diffusion', ...big, '--out', 'afile/x.png'], ['afile']],
      [['generate', 'diffusion', ...big, '--out', cwd], ['directory']],
      [
        ['showcase', '--backend', 'cpu', '--out', 'afile'],
        ['afile', 'not a folder'],
      ],
    ];
    const runs = await runAll(
      cases.map(([a]) => a),
      40_000,
    );
    for (const [i, [args, parts]] of cases.entries()) expectOneLine(runs[i]!, 1, parts, args.join(' '));
  });
});

describe('output files (items 3 and 9)', () => {
  const job = (out: string, ...more: string[]) => [
    'generate',
    'ar',
    '--backend',
    'cpu',
    '--count',
    '4',
    '--seed',
    String(seed),
    '--out',
    out,
    ...more,
  ];

  it('an existing --out is kept unless --force; with --force it is replaced by a whole PNG', async () => {
    const f = join(cwd, 'keep.png');
    writeFileSync(f, 'precious');
    const refused = await runBin(bin, job(f), { cwd });
    expectOneLine(refused, 1, ['keep.png', '--force'], 'no --force');
    expect(readFileSync(f, 'utf8')).toBe('precious');
    const forced = await runBin(bin, job(f, '--force'), { cwd });
    expect([forced.code, ...forced.err], note).toEqual([0]);
    expect([...readFileSync(f).subarray(0, 8)]).toEqual(PNG);
    // the policy is in --help (item 9)
    const help = await runBin(bin, ['--help'], { cwd });
    expect(help.out.join('\n')).toMatch(/existing file is kept unless --force/);
    for (const cmd of [['generate', 'diffusion'], ['generate', 'ar'], ['export-model']]) {
      const h = await runBin(bin, [...cmd, '--help'], { cwd });
      expect(h.out.join('\n'), cmd.join(' ')).toContain(
        '--force                   replace --out if it exists',
      );
    }
    const exp = await runBin(bin, ['export-model', '--out', f], { cwd });
    expectOneLine(exp, 1, ['keep.png', '--force'], 'export-model without --force');
    expect([...readFileSync(f).subarray(0, 8)]).toEqual(PNG);
  });

  it('a write that fails part-way (file-size limit: EFBIG, like a full disk) leaves the old file intact', async () => {
    const sub = mkdtempSync(join(cwd, 'full-'));
    const f = join(sub, 'old.png');
    const old = `old image ${seed}`;
    writeFileSync(f, old);
    // ulimit -f 2: files may not grow beyond 2 KiB; the 16-image grid at zoom 8 is far larger
    for (const args of [
      job(f, '--force', '--count', '16', '--zoom', '8'),
      ['export-model', '--out', f, '--force'],
    ]) {
      const r = await runBin(bin, args, { cwd: sub, shellPrefix: 'ulimit -f 2' });
      expectOneLine(r, 1, ['old.png', 'EFBIG'], args.join(' '));
      expect(readFileSync(f, 'utf8'), 'the old file survives').toBe(old);
      expect(readdirSync(sub), 'no temporary file is left').toEqual(['old.png']);
    }
  });
});

describe('showcase files (item 3)', () => {
  it('a failed write leaves the old report and no temporary file', async () => {
    const out = mkdtempSync(join(cwd, 'show-'));
    const old = `<p>old report ${seed}</p>`;
    writeFileSync(join(out, 'index.html'), old);
    // 8 KiB per file: the quick run's PNG grids fit or not, the base64 report (over 40 KiB) never does
    const r = await runBin(bin, ['showcase', '--backend', 'cpu', '--quick', '--out', out], {
      cwd,
      shellPrefix: 'ulimit -f 8',
      limitMs: 120_000,
    });
    expect(r.code, r.err.join(' | ')).toBe(1);
    expect(r.err.at(-1)).toMatch(/^tessera: cannot write '.*(index\.html|\.png)': .*EFBIG/);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toBe(old);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('the installed command (item 11) and quiet output (item 14)', () => {
  it('--version prints the package version; the committed bin/tessera.js runs the built CLI', async () => {
    const pkg = JSON.parse(readFileSync(join(cliRoot, 'package.json'), 'utf8')) as {
      version: string;
      bin: Record<string, string>;
    };
    expect(pkg.bin.tessera).toBe('./bin/tessera.js');
    expect(existsSync(join(cliRoot, 'bin', 'tessera.js'))).toBe(true);
    const r = await runBin(bin, ['--version'], { cwd });
    expect([r.code, ...r.out, ...r.err]).toEqual([0, pkg.version]);
    // without dist/ (a fresh clone before `npm run build`), the shim says what to do
    const bare = mkdtempSync(join(tmpdir(), 'tessera-bare-'));
    writeFileSync(join(bare, 'tessera.js'), readFileSync(join(cliRoot, 'bin', 'tessera.js')));
    const none = await runBin(join(bare, 'tessera.js'), ['--version'], { cwd });
    expectOneLine(none, 1, ['npm run build'], 'not built');
  });

  it('no progress bar and nothing on stderr when stderr is not a terminal', async () => {
    const r = await runBin(
      bin,
      ['generate', 'diffusion', '--backend', 'cpu', '--steps', '6', '--count', '2', '--out', 'q.png'],
      {
        cwd,
      },
    );
    expect([r.code, ...r.err], note).toEqual([0]);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(/^wrote q\.png: 2 images, dpmpp_2m, 6 steps, 6 model calls/);
  });
});

describe('progress on a terminal (item 14)', () => {
  // util-linux `script` runs the command on a pseudo-terminal (Debian: bsdutils, an essential package)
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.runIf(hasScript)('generate draws steps, rate and ETA on a TTY; --quiet draws nothing', async () => {
    const steps = 12 + (seed % 20);
    const base = `'${process.execPath}' '${bin}' generate diffusion --backend cpu --count 2 --force --steps ${steps} --out tty.png`;
    for (const quiet of [false, true]) {
      const r = spawnSync('script', ['-qec', `${base}${quiet ? ' --quiet' : ''}`, '/dev/null'], {
        cwd,
        encoding: 'utf8',
        env: { ...process.env, TERM: 'xterm' },
        timeout: 60_000,
      });
      expect(r.status, r.stdout).toBe(0);
      const shown = r.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
      expect(shown).toContain(`wrote tty.png: 2 images, dpmpp_2m, ${steps} steps`);
      if (quiet) expect(shown).not.toMatch(/steps\/s|ETA/);
      else {
        expect(shown).toContain(`${steps}/${steps} steps`);
        expect(shown).toMatch(/[\d.]+ steps\/s \| ETA \d+s/);
      }
    }
  });
});

describe('noise on every npm command (item 10)', () => {
  it('npm prints no "Unknown project config" warning; onnxruntime-node install script stays denied', async () => {
    const repo = join(cliRoot, '..', '..');
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    };
    // the CUDA download of onnxruntime-node's postinstall is denied by npm's allowScripts (npm ≥ 11.16)
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
    const r = spawnSync('npm', ['config', 'get', 'fund'], { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Unknown (project|user) config/);
  });
});
