/**
 * Runs the bundled agent inside gVisor: an OCI bundle started with `runsc run`, in a network
 * namespace of its own, reached from the host over a veth pair. Used by the gVisor test and
 * the benchmarks; needs root, `ip` and `runsc` (Debian package `runsc`).
 *
 * The root filesystem is an empty directory plus read-only bind mounts of the host's /usr (the
 * shell, coreutils, the C and C++ libraries Node needs), the Node binary and the bundle; the
 * workspace is a read-write bind of a temporary directory owned by uid 1000, the user the agent
 * runs as (as in the image). Nothing is mounted on the host: runsc's gofer makes these mounts
 * inside its own mount namespace.
 *
 * How Debian's runsc package (a 2022 build) behaves: it has only the ptrace platform; its netstack refuses to start from a netns given in the spec, so
 * the sandbox uses `--network=host` (hostinet) inside the namespace named in the spec. runsc is
 * never wrapped in `ip netns exec` (that remounts /sys and breaks its cgroup handling).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { AGENT_NODE_FLAGS, credentialOrOptOut } from './agent-process.js';

const AGENT_UID = 1000;
const GRPC_PORT = 8889;
const REST_PORT = 8888;

export interface GvisorAgent {
  readonly id: string;
  /** The sandbox's address on its veth. */
  readonly ip: string;
  readonly grpcAddress: string;
  readonly restUrl: string;
  /** The workspace directory on the host (bind-mounted at /workspace). */
  readonly workspace: string;
  /** Host pids of the runsc processes that make up the sandbox (sentry, gofer, stubs). */
  sandboxPids(): number[];
  /** Kills the sandbox and removes the netns, the veth pair, the runsc state and every file. */
  stop(): Promise<void>;
}

/** Fails with a clear message if runsc cannot be used here (the test must not silently skip). */
export function requireRunsc(): string {
  try {
    return execFileSync('runsc', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'runsc';
  } catch (error) {
    throw new Error(`runsc is required for the gVisor tests (apt-get install -y runsc): ${String(error)}`);
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts `bundle` (the agent's agent.mjs) under runsc and waits until it listens. */
export async function startGvisorAgent(
  bundle: string,
  env: Record<string, string> = {},
): Promise<GvisorAgent> {
  requireRunsc();
  const tag = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`;
  const id = `sbk-agent-${tag}`;
  const netns = `sbk-agt-${tag}`;
  const hostIf = `sbkh${tag}`.slice(0, 15);
  const sandboxIf = `sbkc${tag}`.slice(0, 15);
  // A /30 in 10.251.0.0/16 (unused by the local cluster's 10.244/10.245 ranges), picked from the tag.
  const subnet = Number(tag) % 16384;
  const base = `10.251.${Math.floor(subnet / 64)}.${(subnet % 64) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const hostIp = `${a}.${b}.${c}.${d + 1}`;
  const sandboxIp = `${a}.${b}.${c}.${d + 2}`;

  const dir = mkdtempSync(join(tmpdir(), 'sandbank-gvisor-'));
  const stateRoot = join(dir, 'runsc-root');
  const workspace = join(dir, 'workspace');
  let child: ChildProcess | undefined;
  let netnsCreated = false;

  const cleanup = async (): Promise<void> => {
    try {
      run('runsc', [`--root=${stateRoot}`, 'kill', id, 'KILL']);
    } catch {
      // Not running (any more).
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child?.kill('SIGKILL');
          resolve();
        }, 5000);
        child?.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    try {
      run('runsc', [`--root=${stateRoot}`, 'delete', '-force', id]);
    } catch {
      // Already deleted.
    }
    if (netnsCreated) {
      try {
        run('ip', ['netns', 'del', netns]); // also removes the veth pair
      } catch {
        // Already gone.
      }
    }
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target?.startsWith(dir)) run('umount', ['-l', target]);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // Network: a namespace with a veth pair, the sandbox end addressed, loopback up.
    run('ip', ['netns', 'add', netns]);
    netnsCreated = true;
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', sandboxIf]);
    run('ip', ['link', 'set', sandboxIf, 'netns', netns]);
    run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    run('ip', ['-n', netns, 'addr', 'add', `${sandboxIp}/30`, 'dev', sandboxIf]);
    run('ip', ['-n', netns, 'link', 'set', sandboxIf, 'up']);
    run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);

    // Root filesystem and mounts.
    const bundleDir = join(dir, 'bundle');
    const rootfs = join(bundleDir, 'rootfs');
    for (const d of [
      'usr',
      'proc',
      'dev',
      'sys',
      'tmp',
      'workspace',
      'etc',
      'opt/sandbank',
      'opt/node/bin',
    ]) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    const mounts: object[] = [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
      { destination: '/opt/sandbank', type: 'bind', source: dirname(bundle), options: ['rbind', 'ro'] },
      { destination: '/opt/node/bin/node', type: 'bind', source: process.execPath, options: ['bind', 'ro'] },
      { destination: '/workspace', type: 'bind', source: workspace, options: ['rbind', 'rw'] },
    ];
    writeFileSync(join(rootfs, 'opt/node/bin/node'), '');
    // Merged-/usr hosts have /bin etc. as symlinks into /usr; others get read-only binds.
    for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
      let st;
      try {
        st = lstatSync(`/${top}`);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(`/${top}`), join(rootfs, top));
      } else {
        mkdirSync(join(rootfs, top));
        mounts.push({ destination: `/${top}`, type: 'bind', source: `/${top}`, options: ['rbind', 'ro'] });
      }
    }
    writeFileSync(
      join(rootfs, 'etc/passwd'),
      `root:x:0:0:root:/root:/bin/sh\nsandbox:x:${AGENT_UID}:${AGENT_UID}::/workspace:/bin/sh\n`,
    );
    writeFileSync(join(rootfs, 'etc/group'), `root:x:0:\nsandbox:x:${AGENT_UID}:\n`);
    writeFileSync(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost\n');
    mkdirSync(workspace);
    chownSync(workspace, AGENT_UID, AGENT_UID);

    const spec = {
      ociVersion: '1.0.0',
      process: {
        terminal: false,
        user: { uid: AGENT_UID, gid: AGENT_UID },
        args: ['/opt/node/bin/node', ...AGENT_NODE_FLAGS, `/opt/sandbank/${basename(bundle)}`],
        env: [
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'HOME=/workspace',
          'SANDBANK_AGENT_HOST=0.0.0.0',
          `SANDBANK_AGENT_GRPC_PORT=${GRPC_PORT}`,
          `SANDBANK_AGENT_REST_PORT=${REST_PORT}`,
          'SANDBANK_AGENT_WORKSPACE=/workspace',
          // Called directly, with no router deriving a pod token: the opt-out unless `env` has a digest.
          ...Object.entries(credentialOrOptOut(env)).map(([k, v]) => `${k}=${v}`),
        ],
        cwd: '/workspace',
        capabilities: { bounding: [], effective: [], inheritable: [], permitted: [] },
        rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: true },
      hostname: id,
      mounts,
      linux: {
        namespaces: [
          { type: 'pid' },
          { type: 'network', path: `/var/run/netns/${netns}` },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
        ],
      },
    };
    writeFileSync(join(bundleDir, 'config.json'), JSON.stringify(spec, null, 2));

    mkdirSync(stateRoot);
    const runsc = spawn(
      'runsc',
      [`--root=${stateRoot}`, '--platform=ptrace', '--network=host', 'run', '--bundle', bundleDir, id],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = runsc;
    let stderr = '';
    runsc.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the agent under runsc did not listen within 30 s: ${stderr}`)),
        30_000,
      );
      createInterface({ input: runsc.stdout }).on('line', (line) => {
        if (line.includes('"agent listening"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      runsc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`runsc exited with ${String(code)} before the agent listened: ${stderr}`));
      });
    });
  } catch (error) {
    await cleanup();
    throw error;
  }

  return {
    id,
    ip: sandboxIp,
    grpcAddress: `${sandboxIp}:${GRPC_PORT}`,
    restUrl: `http://${sandboxIp}:${REST_PORT}`,
    workspace,
    sandboxPids: () => sandboxProcesses(child?.pid),
    stop: cleanup,
  };
}

/** The descendants of `runsc run` (gofer, sentry, ptrace stubs), by walking /proc. */
function sandboxProcesses(root: number | undefined): number[] {
  if (root === undefined) return [];
  const children = new Map<number, number[]>();
  for (const line of run('ps', ['-e', '-o', 'pid=,ppid=']).trim().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}
