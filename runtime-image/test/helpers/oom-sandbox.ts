/**
 * A small gVisor sandbox with a memory limit, for the OOM test: an OCI bundle run with
 * `runsc run` and no network, its container in a cgroup of its own with
 * `linux.resources.memory.limit`, the cgroup filesystem mounted at /sys/fs/cgroup as a pod's
 * container gets it, and the agent's process code (oom.ts + process.ts, bundled with esbuild)
 * run by the host's Node binary inside. Needs root and `runsc`.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { StdioOptions } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { z } from 'zod';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const REPO = join(SRC, '..', '..');
const UID = 1000;

const WaitOutput = z.object({ exitStatus: z.number().int() });

/** execFile as a promise; stdio may name files (`create` hands them to the container). */
function execFileAsync(
  file: string,
  args: string[],
  options: { stdio?: StdioOptions } = {},
): Promise<{ stdout: string }> {
  if (options.stdio) {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: options.stdio });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0
          ? resolve({ stdout: '' })
          : reject(new Error(`${file} ${args.join(' ')} exited with ${String(code)}`)),
      );
    });
  }
  return new Promise((resolve, reject) =>
    execFile(file, args, { encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message.trim()} ${stderr.trim()}`)) : resolve({ stdout }),
    ),
  );
}

/**
 * The probe the sandbox runs: `counter` prints the OOM counter the agent would use (or null);
 * `spawn <argv…> [-- <argv…>]…` builds the agent's dependencies as its main does (the process
 * table Exec, Run and POST /execute share, with its OOM watch), runs each process in turn
 * through that table, and prints each exit as the gRPC ExitStatus (\`exitStatusOf\`) once it is
 * gone.
 */
const PROBE = `
import { pino } from 'pino';
import { createAgentDeps } from './deps.js';
import { loadConfig } from './config.js';
import { findOomCounter } from './process/oom.js';
import { exitStatusOf } from './services/process-spec.js';
const [mode, ...argv] = process.argv.slice(2);
if (mode === 'counter') {
  console.log(JSON.stringify({ counter: findOomCounter() ?? null }));
} else {
  const config = loadConfig({ SANDBANK_AGENT_WORKSPACE: '/tmp', SANDBANK_AGENT_INSECURE_NO_AUTH: 'true' });
  const deps = await createAgentDeps(config, { logger: pino({ level: 'silent' }), env: { PATH: '/usr/bin:/bin' } });
  const commands = [[]];
  for (const arg of argv) arg === '--' ? commands.push([]) : commands.at(-1).push(arg);
  for (const command of commands) {
    const proc = await deps.runner.start({ argv: command, cwd: '/tmp', stdin: false, timeoutMs: 0 });
    console.log(JSON.stringify({ spawned: proc.pid }));
    const exit = exitStatusOf(await proc.exited);
    console.log(JSON.stringify({ exit: { ...exit, durationMs: undefined } }));
  }
}
`;

/** Bundles the probe into `dir`/probe with a `probe` launcher naming `node` and the probe's final directory. */
function buildProbe(dir: string, node: string, at: string): string {
  const probe = join(dir, 'probe');
  mkdirSync(probe);
  buildSync({
    stdin: { contents: PROBE, resolveDir: SRC, sourcefile: 'probe.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(probe, 'probe.mjs'),
    logLevel: 'error',
    // pino and its dependencies are CommonJS: give the ESM bundle a `require`.
    banner: {
      js: "import { createRequire as __probeRequire } from 'node:module'; const require = __probeRequire(import.meta.url);",
    },
    // Our workspaces from their TypeScript sources, as scripts/bundle.mjs builds the agent.
    alias: Object.fromEntries(
      ['api', 'proto', 'kube'].map((name) => [`@sandbank/${name}`, join(REPO, name, 'src', 'index.ts')]),
    ),
  });
  writeFileSync(join(probe, 'probe'), `#!/bin/sh\nexec '${node}' '${at}/probe.mjs' "$@"\n`, { mode: 0o755 });
  chmodSync(probe, 0o755);
  return probe;
}

export interface CgroupRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `/bin/sh -c script` (with `probe` on PATH) on the host kernel, as under runc: in a fresh
 * memory cgroup (v2, else v1) limited to `memoryBytes`, which the shell joins before anything
 * else runs; the cgroup is removed afterwards.
 */
export async function runInMemoryCgroup(script: string, memoryBytes: number): Promise<CgroupRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-oom-kernel-'));
  const name = `sbk-oom-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const cgroup = v2 ? `/sys/fs/cgroup/${name}` : `/sys/fs/cgroup/memory/${name}`;
  try {
    const probe = buildProbe(dir, process.execPath, join(dir, 'probe'));
    mkdirSync(cgroup);
    writeFileSync(join(cgroup, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(memoryBytes));
    // No swap: the limit must end in an OOM kill, not in paging.
    const noSwap = v2 ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes';
    if (existsSync(join(cgroup, noSwap))) writeFileSync(join(cgroup, noSwap), v2 ? '0' : String(memoryBytes));
    const child = spawn('/bin/sh', ['-c', `echo $$ > '${cgroup}/cgroup.procs' && ${script}`], {
      env: { PATH: `${probe}:/usr/bin:/bin` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { code, stdout, stderr };
  } finally {
    try {
      rmdirSync(cgroup);
    } catch {
      // Never created, or a process is still in it (the kernel refuses; nothing else to do).
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SandboxRun {
  /** What `runsc wait` said: the container's exit status, or why it has none. */
  readonly wait: { readonly exitStatus: number } | { readonly error: string };
  readonly stdout: string;
  readonly stderr: string;
  /** The host's OOM-kill count of the sandbox's cgroup when it ended; undefined if unreadable. */
  readonly hostOomKills: number | undefined;
}

/** Runs `/bin/sh -c script` (with `probe` on PATH) in a fresh sandbox limited to `memoryBytes`. */
export async function runInLimitedSandbox(script: string, memoryBytes: number): Promise<SandboxRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-oom-gvisor-'));
  chmodSync(dir, 0o755);
  const id = `sbk-oom-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const cgroup = `/${id}`; // top level: runsc removes it, no parent is left behind
  const state = join(dir, 'state');
  const rootfs = join(dir, 'rootfs');
  try {
    for (const d of ['usr', 'proc', 'dev', 'sys', 'tmp', 'etc', 'opt/probe', 'opt/node/bin']) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    mkdirSync(state);
    const probe = buildProbe(dir, '/opt/node/bin/node', '/opt/probe');
    writeFileSync(join(rootfs, 'opt/node/bin/node'), '');
    writeFileSync(
      join(rootfs, 'etc/passwd'),
      `root:x:0:0::/:/bin/sh\nsandbox:x:${UID}:${UID}::/tmp:/bin/sh\n`,
    );
    const mounts: object[] = [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // As containerd mounts it for every container.
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
      { destination: '/opt/probe', type: 'bind', source: probe, options: ['rbind', 'ro'] },
      { destination: '/opt/node/bin/node', type: 'bind', source: process.execPath, options: ['bind', 'ro'] },
    ];
    for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
      let link: string;
      try {
        if (!lstatSync(`/${top}`).isSymbolicLink()) {
          mkdirSync(join(rootfs, top));
          mounts.push({ destination: `/${top}`, type: 'bind', source: `/${top}`, options: ['rbind', 'ro'] });
          continue;
        }
        link = readlinkSync(`/${top}`);
      } catch {
        continue;
      }
      symlinkSync(link, join(rootfs, top));
    }
    const spec = {
      ociVersion: '1.0.0',
      process: {
        terminal: false,
        user: { uid: UID, gid: UID },
        args: ['/bin/sh', '-c', script],
        env: ['PATH=/opt/probe:/usr/bin:/bin'],
        cwd: '/tmp',
        capabilities: { bounding: [], effective: [], inheritable: [], permitted: [] },
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: true },
      hostname: id,
      mounts,
      linux: {
        namespaces: [
          { type: 'pid' },
          { type: 'network' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
        ],
        cgroupsPath: cgroup,
        resources: { memory: { limit: memoryBytes } },
      },
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));

    // create/start/wait rather than `run`, which removes the cgroup (and its counter) on exit.
    const runsc = [`--root=${state}`, '--platform=ptrace', '--network=none'];
    const out = openSync(join(dir, 'stdout'), 'w');
    const err = openSync(join(dir, 'stderr'), 'w');
    try {
      await execFileAsync('runsc', [...runsc, 'create', '--bundle', dir, id], {
        stdio: ['ignore', out, err],
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    await execFileAsync('runsc', [...runsc, 'start', id]);
    const wait = await execFileAsync('runsc', [...runsc, 'wait', id]).then(
      (r) => ({ exitStatus: WaitOutput.parse(JSON.parse(r.stdout)).exitStatus }),
      (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
    );
    return {
      wait,
      stdout: readFileSync(join(dir, 'stdout'), 'utf8'),
      stderr: readFileSync(join(dir, 'stderr'), 'utf8'),
      hostOomKills: hostOomKills(cgroup),
    };
  } finally {
    try {
      execFileSync('runsc', [`--root=${state}`, 'delete', '-force', id], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
    // Newer runsc binds a network namespace under its state directory (--network=none).
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target?.startsWith(dir)) execFileSync('umount', ['-l', target]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The host's OOM-kill counter of `cgroup` (v2, then v1), read before runsc deletes it. */
function hostOomKills(cgroup: string): number | undefined {
  for (const file of [
    `/sys/fs/cgroup${cgroup}/memory.events`,
    `/sys/fs/cgroup/memory${cgroup}/memory.oom_control`,
  ]) {
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
      if (match?.[1] !== undefined) return Number(match[1]);
    } catch {
      // Not this cgroup version, or gone.
    }
  }
  return undefined;
}
