/**
 * `make lint` runs e2e/cluster/lint-shell.sh, which rejects pipes whose reader can stop before the
 * writer is done (`| head`, `| grep -q`, …) in scripts that run under `set -o pipefail`: the
 * writer then dies of SIGPIPE and pipefail fails the pipeline, at random. This plants such pipes
 * in scratch scripts and checks that the lint fails on each one — and passes the fixed forms and
 * the pipes it must leave alone — so the check cannot silently rot. No cluster, no shellcheck.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const lintScript = join(repoRoot, 'e2e', 'cluster', 'lint-shell.sh');
const strict = '#!/usr/bin/env bash\nset -euo pipefail\n';

function run(command: string, args: string[], cwd?: string): { status: number; output: string } {
  try {
    const output = execFileSync(command, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status?: number | null; stdout?: string; stderr?: string };
    return { status: e.status ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Runs the pipe check of lint-shell.sh on one scratch script with the given content. */
function lint(content: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'shell-lint-'));
  try {
    writeFileSync(join(dir, 'planted.sh'), content);
    const result = run('bash', [lintScript, '--pipes-only', 'planted.sh'], dir);
    return { ok: result.status === 0, output: result.output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the pattern the lint rejects', () => {
  it('fails a pipeline under pipefail once the reader has stopped (the writer gets SIGPIPE)', () => {
    // `yes` never stops writing, so it always outlives `head`: the race decided one way.
    const planted = run('bash', ['-c', 'set -o pipefail; yes | head -n1 >/dev/null']);
    expect(planted.status).toBe(141);
    const fixed = run('bash', ['-c', 'set -o pipefail; out=$(seq 3); head -n1 <<<"$out"']);
    expect(fixed).toEqual({ status: 0, output: '1\n' });
  });
});

describe('lint-shell.sh --pipes-only', () => {
  it('fails on a planted `cmd | head -1` under pipefail and names the line', () => {
    const result = lint(`${strict}echo start\nrunsc --version | head -1 >&2\n`);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('planted.sh:4: `| head`');
    expect(result.output).toContain('SIGPIPE');
  });

  it('passes the fixed form of the same line', () => {
    const result = lint(`${strict}echo start\nversion=$(runsc --version)\nhead -n1 <<<"$version" >&2\n`);
    expect(result).toEqual({ ok: true, output: '' });
  });

  it.each([
    ['grep -q', 'dpkg-query -W foo | grep -q "install ok installed"', '`| grep -q`'],
    ['grep with -q among other flags', 'ps ax | grep -qxF -- init', '`| grep -qxF`'],
    ['grep -m', 'ls | grep -m1 x', '`| grep -m1`'],
    ['grep -l', 'ls | grep -l x', '`| grep -l`'],
    ['sed with q', 'v=$(ls | sed 1q)', '`| sed …q`'],
    ['awk that exits', "ls | awk '{ print $1; exit }'", '`| awk … exit`'],
    ['read', 'ls | IFS= read -r first', '`| read`'],
    ['a pipe in $(…) inside double quotes', '[ -n "$(find . | head -1)" ]', '`| head`'],
    ['a pipe continued on the next line', 'ls |\n  head -n2', '`| head`'],
    ['a pipe in the string an eval runs', "eval 'ls | grep -q x'", '`| grep -q`'],
    ['an opt-out without a reason', 'ls | head -1 # sigpipe-safe:', '`| head`'],
  ])('fails on %s', (_name, line, reported) => {
    const result = lint(`${strict}${line}\n`);
    expect(result.ok).toBe(false);
    expect(result.output).toContain(`planted.sh:3: ${reported}`);
  });

  it.each([
    ['a reader that reads to the end', 'ls | grep -c x >/dev/null; ls | sed -n 2p; ls | wc -l'],
    ['awk whose exit is in END', "ls | awk '{ n++ } END { exit n == 0 }'"],
    ['a here-string', 'grep -q x <<<"$(ls)"'],
    ['a loop reading every line', 'ls | while read -r f; do echo "$f"; done'],
    ['a pipe in a string run by sh -c (no pipefail there)', "sh -c 'ls | grep -q x'"],
    ['a here-document body', 'cat <<EOF\nls | head -1\nEOF'],
    ['a comment', '# ls | head -1'],
    ['an explained opt-out', 'printf %s "$v" | grep -q x # sigpipe-safe: one short write'],
    ['|| and |&', 'true || false; ls |& tee /dev/null >/dev/null'],
  ])('passes %s', (_name, line) => {
    expect(lint(`${strict}${line}\n`)).toEqual({ ok: true, output: '' });
  });

  it('checks a library without #! line (sourced by scripts that set pipefail)', () => {
    const result = lint('# shellcheck shell=bash\nport_in_use() { ss -Hltn | grep -q .; }\n');
    expect(result.ok).toBe(false);
    expect(result.output).toContain('planted.sh:2: `| grep -q`');
  });

  it('leaves a script alone that neither sets pipefail nor sources anything', () => {
    expect(lint('#!/usr/bin/env bash\nls | head -1\n')).toEqual({ ok: true, output: '' });
  });
});
