/**
 * Memory of one idle warm sandbox on the local one-node cluster: every process of one unclaimed
 * python-runtime pod — its containerd shim (runc.v2, one per pod), the pause container (runc),
 * runsc's gofer and sandbox (the sentry, with its systrap stub processes, where the agent's pages
 * live). Found from the pod's container id: the `runsc-sandbox` process booted with that id under
 * the cluster's runsc root, its parent shim, and the shim's descendants.
 *
 * PSS (shared pages split among the processes that map them, so the runsc binary and the
 * sentry's memory file mapped by every stub count once) is the headline; summed RSS is recorded
 * beside it and counts shared pages once per address space (each counted once: systrap's stubs
 * share one). The target is the agent benchmark's for a
 * whole idle sandbox, ≤ 64 MiB.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Labels } from '@sandbank/api';
import { type Obj, listPods, memoryMiB } from '@sandbank/testing';
import type { Benchmark } from '../src/index.js';
import { NS, clusterParams, load1, localCluster, waitQuiet } from './support/local-cluster.js';

const SAMPLES = 20;
const IDLE_MS = 10_000;

type Pod = Obj & {
  status?: {
    containerStatuses?: { containerID?: string }[];
    conditions?: { type: string; status: string }[];
  };
};

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

function parentOf(pid: number): number {
  // The field after the parenthesised command name, which may itself hold spaces or parens.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function processes(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

// systrap's stub processes share one address space (clone with CLONE_VM, not threads), and each
// reports that whole mm in smaps_rollup; summing them would count it once per stub. Only
// kcmp(2) tells whether two processes share an mm, and Node cannot call it.
const KCMP = `
import ctypes, platform, sys
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": 312, "aarch64": 272}[platform.machine()]
reps = []
for p in map(int, sys.argv[1:]):
    if all(libc.syscall(nr, p, r, 1, 0, 0) != 0 for r in reps):  # 1 = KCMP_VM
        reps.append(p)
print(*reps)
`;

/** One pid per distinct address space among `pids`. */
function distinctAddressSpaces(pids: readonly number[]): number[] {
  if (pids.length === 0) return [];
  const out = execFileSync('python3', ['-c', KCMP, ...pids.map(String)], { encoding: 'utf8' });
  return out.trim().split(/\s+/).map(Number);
}

/** The pod's processes, by role; throws when the container's runsc sandbox is not found. */
function podProcesses(stateDir: string, containerId: string): Record<string, number[]> {
  const runscRoot = `--root=${join(stateDir, 'runsc-root')}`;
  const all = processes();
  const sandbox = all.find((pid) => {
    const argv = cmdline(pid);
    return (
      argv[0] === 'runsc-sandbox' && argv.at(-1) === containerId && argv.some((a) => a.startsWith(runscRoot))
    );
  });
  if (sandbox === undefined) throw new Error(`no runsc-sandbox process for container ${containerId}`);
  const shim = parentOf(sandbox);
  if (!(cmdline(shim)[0] ?? '').includes('containerd-shim'))
    throw new Error(`parent ${shim} of the sandbox is no shim`);
  const children = new Map<number, number[]>();
  for (const pid of all) {
    try {
      const ppid = parentOf(pid);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // exited meanwhile
    }
  }
  const below = (pid: number): number[] => (children.get(pid) ?? []).flatMap((c) => [c, ...below(c)]);
  const roles: Record<string, number[]> = { shim: [shim], pause: [], gofer: [], sentry: [] };
  for (const child of children.get(shim) ?? []) {
    const argv0 = cmdline(child)[0] ?? '';
    if (argv0 === 'runsc-sandbox') roles['sentry']?.push(child, ...below(child));
    else if (argv0 === 'runsc-gofer') roles['gofer']?.push(child, ...below(child));
    else if (argv0.endsWith('pause')) roles['pause']?.push(child, ...below(child));
    else throw new Error(`unexpected process ${child} (${argv0}) under the pod's shim`);
  }
  return Object.fromEntries(Object.entries(roles).map(([role, ps]) => [role, distinctAddressSpaces(ps)]));
}

const benchmark: Benchmark = {
  title: 'local cluster: memory of one idle warm sandbox (shim + pause + gofer + sentry)',
  needs: 'local-cluster',
  async run(ctx) {
    const { log } = ctx;
    const { kc, stateDir } = localCluster(ctx);
    const loadBefore = load1();
    await waitQuiet(kc);
    const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const pod = ((await listPods(kc, NS)) as Pod[]).find((p) => p.metadata.labels?.[Labels.pool] && ready(p));
    const containerId = pod?.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
    if (!pod || !containerId) throw new Error('no ready warm pod with a container id');
    // Idle: started, probed, never claimed nor exec'd into.
    await sleep(IDLE_MS);
    const roles = podProcesses(stateDir, containerId);
    const pids = Object.values(roles).flat();
    log(`pod ${pod.metadata.name}: ${pids.length} address spaces`);
    const rss: number[] = [];
    const pss: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const m = memoryMiB(pids);
      rss.push(m.rss);
      pss.push(m.pss);
      await sleep(250);
    }
    const round = (v: number) => Math.round(v * 10) / 10;
    const byRole = Object.fromEntries(
      Object.entries(roles).flatMap(([role, ps]) => {
        const m = memoryMiB(ps);
        return [
          [`${role}PssMiB`, round(m.pss)],
          [`${role}RssMiB`, round(m.rss)],
          [`${role}AddressSpaces`, ps.length],
        ];
      }),
    );
    const params = {
      ...clusterParams(loadBefore),
      what: 'one unclaimed python-runtime pod: containerd shim + pause + runsc gofer + sentry (with systrap stubs)',
      idleSeconds: IDLE_MS / 1000,
      ...byRole,
    };
    return [
      { name: 'cluster-warm-sandbox-pss', unit: 'MiB', samples: pss, target: 64, params },
      {
        name: 'cluster-warm-sandbox-rss',
        unit: 'MiB',
        samples: rss,
        target: 64,
        params: { ...params, sum: 'VmRSS summed over the processes' },
      },
    ];
  },
};

export default benchmark;
