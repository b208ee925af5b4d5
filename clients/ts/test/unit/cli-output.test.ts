/** What the CLI prints: tables, listings, the progress line, help, completions, and each failure's exit code. */
import { spawnSync } from 'node:child_process';
import {
  ClaimFailed,
  ConfigurationError,
  InsecureTransport,
  KubernetesError,
  NotFound,
  PermissionDenied,
  PortForwardError,
  ProtocolError,
  RouterUnreachable,
  SandboxNotReady,
  SandboxTimeout,
  TemplateNotFound,
} from '@sandbank/client';
import { describeFailure, EXIT, Interrupted, signalExit, UsageError } from '../../src/cli/failures.js';
import { age, claimsTable, listing, modeString, progressLine, statText } from '../../src/cli/format.js';
import { completionScript, helpText } from '../../src/cli/help.js';

test('every failure has its documented exit code and one line', () => {
  const cases: [unknown, number, string][] = [
    [new UsageError('PORT: bad'), EXIT.usage, 'usage'],
    [new TemplateNotFound('c', 'no template'), EXIT.claim, 'template_not_found'],
    [new ClaimFailed('c', 'PodFailed', ''), EXIT.claim, 'claim_failed'],
    [new SandboxTimeout('c', 1000, 'Pending'), EXIT.claim, 'sandbox_timeout'],
    [new KubernetesError('forbidden', 403), EXIT.auth, 'kubernetes'],
    [new KubernetesError('no answer'), EXIT.kubernetes, 'kubernetes'],
    [new PortForwardError('no router'), EXIT.kubernetes, 'port_forward'],
    [new PermissionDenied('port not declared'), EXIT.auth, 'permission_denied'],
    [new NotFound('no such file'), EXIT.failed, 'not_found'],
    [new SandboxNotReady('not yet'), EXIT.router, 'sandbox_not_ready'],
    [new RouterUnreachable('refused'), EXIT.router, 'router_unreachable'],
    [new ProtocolError('garbled'), EXIT.router, 'protocol_error'],
    [new ConfigurationError('token: bad'), EXIT.configuration, 'configuration'],
    [new InsecureTransport('plain http'), EXIT.configuration, 'insecure_transport'],
    [new Interrupted('SIGINT'), 130, 'interrupted'],
    [new Interrupted('SIGTERM'), 143, 'interrupted'],
    [
      Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open' }),
      EXIT.failed,
      'enoent',
    ],
  ];
  for (const [error, exit, code] of cases)
    expect([describeFailure(error).exit, describeFailure(error).code]).toEqual([exit, code]);
  expect(describeFailure(new TypeError('x is not a function\n    at y'))).toEqual({
    exit: EXIT.internal,
    code: 'internal',
    message: 'internal error: x is not a function at y (SANDBANK_DEBUG=1 shows where)',
  });
  expect(signalExit('SIGKILL')).toBe(137);
});

test('claims table with ages', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  expect(
    claimsTable(
      [
        {
          name: 'a',
          namespace: 'ns',
          state: 'Ready',
          reason: 'Bound',
          sandboxName: 'sb-1',
          template: undefined,
          pool: 'py',
          createdAt: '2026-12-07T11:58:30Z',
        },
        {
          name: 'longer-name',
          namespace: 'ns',
          state: 'Pending',
          reason: undefined,
          sandboxName: undefined,
          template: 't',
          pool: undefined,
          createdAt: '2026-12-04T12:00:00Z',
        },
      ],
      now,
    ),
  ).toBe(
    'NAME         STATE    REASON  SANDBOX  TEMPLATE  POOL  AGE\n' +
      'a            Ready    Bound   sb-1     -         py    1m\n' +
      'longer-name  Pending  -       -        t         -     3d\n',
  );
  expect(claimsTable([], now)).toBe('');
  expect(age(undefined, now)).toBe('-');
  expect(age('2026-12-07T11:59:58Z', now)).toBe('2s');
});

test('ls -l style listing and stat', () => {
  const file = {
    name: 'b.txt',
    path: 'd/b.txt',
    size: 12,
    type: 'file',
    mode: 0o644,
    modTime: '2026-12-07T10:05:00Z',
  } as const;
  const dir = { name: 'a', path: 'd/a', size: 4096, type: 'directory', mode: 0o755, modTime: null } as const;
  expect(listing([file, dir])).toBe(
    'drwxr-xr-x        4096  -                 a/\n-rw-r--r--          12  2026-12-07 10:05  b.txt\n',
  );
  expect(statText(file)).toBe(
    'path:      d/b.txt\ntype:      file\nsize:      12\nmode:      0644 (-rw-r--r--)\nmodified:  2026-12-07T10:05:00Z\n',
  );
  expect(modeString('file', 0o4755)).toBe('-rwsr-xr-x');
  expect(modeString('directory', 0o1777)).toBe('drwxrwxrwt');
  expect(modeString('file', 0o2644)).toBe('-rw-r-Sr--');
});

test('progress line: bar, percent, sizes and rate within the width', () => {
  const line = progressLine(3 << 20, 6 << 20, 2000, 80);
  expect(line).toBe('[====================>                   ]   50%  3.0 MiB/6.0 MiB  1.5 MiB/s');
  expect(line.length).toBeLessThanOrEqual(80);
  expect(progressLine(6 << 20, 6 << 20, 1000, 80)).toMatch(/^\[=+\] {2}100%/);
  expect(progressLine(1024, undefined, 1000, 80)).toBe('1.0 KiB  1.0 KiB/s');
  expect(progressLine(1, 2, 1000, 20).length).toBeLessThanOrEqual(20);
});

test('help lists every command; a command lists its flags', () => {
  const top = helpText(undefined);
  expect(top).toMatch(/^Usage: sandbank COMMAND/);
  for (const code of Object.values(EXIT)) expect(top).toMatch(new RegExp(`\\b${code} `));
  const cp = helpText('cp');
  expect(cp).toMatch(/^Usage: sandbank cp \[-q\] SRC DST/);
  expect(cp).toMatch(/-q, --quiet\s+no progress bar/);
  expect(cp).toMatch(/-n, --namespace NS/);
  expect(cp).not.toMatch(/--recursive/);
});

test('the bash completion script parses and completes commands and flags', () => {
  const script = completionScript('bash');
  const complete = (line: string): string => {
    const words = line.split(' ');
    const run = spawnSync(
      'bash',
      [
        '-c',
        `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sandbank; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    return run.stdout.trim();
  };
  expect(complete('sandbank cl')).toBe('claims');
  expect(complete('sandbank -n ns c')).toBe('cp claims create completion');
  expect(complete('sandbank rm --re')).toBe('--recursive');
  expect(complete('sandbank completion z')).toBe('zsh');
  expect(completionScript('zsh')).toMatch(/bashcompinit/);
});
