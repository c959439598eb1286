// Issue 13, item 11: the READMEs' example commands must be exactly right. Every `npm start -w X` names a
// workspace (by its package name or folder), and every `npx tessera …` line parses: its command and flags
// exist (checked by running it with --help appended, which stops after parsing).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '@tessera/cli';
import { describe, expect, it } from 'vitest';
import { cliRoot } from './helpers.js';

const repo = join(cliRoot, '..', '..');
const readmes = [
  'README.md',
  'packages/cli/README.md',
  ...readdirSync(join(repo, 'examples')).map((d) => `examples/${d}/README.md`),
].filter((f) => existsSync(join(repo, f)));

/** Shell lines inside ```sh blocks and `inline code` spans. */
function commands(text: string): string[] {
  const out: string[] = [];
  for (const block of text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) out.push(...block[1]!.split('\n'));
  for (const span of text.matchAll(/`([^`\n]+)`/g)) out.push(span[1]!);
  // drop comments, split `a && b`
  return out.flatMap((l) => l.replace(/\s+#.*$/, '').split('&&')).map((l) => l.trim());
}

describe('README example commands', () => {
  const workspaces = new Map<string, string>();
  for (const top of ['packages', 'examples']) {
    for (const d of readdirSync(join(repo, top))) {
      const pj = join(repo, top, d, 'package.json');
      if (!existsSync(pj)) continue;
      const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { name: string; scripts?: Record<string, string> };
      const start = pkg.scripts?.start ?? '';
      workspaces.set(pkg.name, start);
      workspaces.set(`${top}/${d}`, start);
    }
  }

  it('every `npm start -w X` names a workspace that has a start script', () => {
    let n = 0;
    for (const f of readmes) {
      for (const c of commands(readFileSync(join(repo, f), 'utf8'))) {
        const m = c.match(/^npm start -w (\S+)/);
        if (!m || m[1]!.includes('<')) continue; // `@tessera/example-<name>` is a pattern, not a command
        n++;
        expect(workspaces.get(m[1]!), `${f}: ${c}`).toBeTruthy();
      }
    }
    expect(n).toBeGreaterThanOrEqual(6);
  });

  it('every `npx tessera …` line uses existing commands and flags', async () => {
    let n = 0;
    for (const f of readmes) {
      for (const c of commands(readFileSync(join(repo, f), 'utf8'))) {
        if (!c.startsWith('npx tessera')) continue;
        const args = c.split(/\s+/).slice(2);
        if (args.some((a) => a.includes('<') || a.includes('…'))) continue;
        n++;
        const err: string[] = [];
        const code = await runCli(
          [...args, '--help'],
          () => {},
          (l) => err.push(l),
        );
        expect([code, ...err], `${f}: ${c}`).toEqual([0]);
      }
    }
    expect(n).toBeGreaterThanOrEqual(10);
  });
});
