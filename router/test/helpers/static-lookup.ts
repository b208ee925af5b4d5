/**
 * A SandboxLookup over fixed entries, for unit tests (resolution itself is the real function):
 * each sandbox is a claim, the Sandbox it controls and a Ready Pod that Sandbox controls. A test
 * records an OOM kill on a sandbox's Pod as the kubelet would (`recordOomKill`), which wakes
 * what waits on the Pod cache.
 */
import { SANDBOX_KIND } from '@sandbank/api';
import { oomKilledAfter, PodChanges, resolveSandbox } from '../../src/index.js';
import type { SandboxLookup } from '../../src/index.js';
import type { PodEntry } from '../../src/resolve/model.js';
import { canonicalIp } from '../../src/ip.js';

export interface StaticSandbox {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly protocol?: 'grpc' | 'http' | 'unknown';
  /** Its pod's `sandbank.dev/agent-credential` annotation (a credentialed test agent's). */
  readonly annotation?: string | undefined;
  /** Its claim's UID (default `claim-uid-<name>`): a test changes it to stand for a re-made claim. */
  readonly claimUid?: string;
  /** Its pod's declared TCP container ports. */
  readonly ports?: readonly number[];
  /** Its pod's `sandbank.dev/expose-any-port: "true"`. */
  readonly anyPort?: boolean;
}

const claimUid = (s: StaticSandbox): string => s.claimUid ?? `claim-uid-${s.name}`;

export interface StaticLookup extends SandboxLookup {
  /** Records that the memory limit killed the Pod of sandbox `ns/name` at `atMs` (its finishedAt). */
  recordOomKill(ns: string, name: string, atMs: number): void;
}

export function staticLookup(sandboxes: readonly StaticSandbox[]): StaticLookup {
  const find = (ns: string, name: string): StaticSandbox | undefined =>
    sandboxes.find((s) => s.namespace === ns && s.name === name);
  /** The last OOM kill of each sandbox's Pod, by `ns/name`. */
  const oomKills = new Map<string, number>();
  const podChanges = new PodChanges();
  const podOf = (ns: string, podName: string): PodEntry | undefined => {
    const s = sandboxes.find((x) => x.namespace === ns && `pod-${x.name}` === podName);
    return s
      ? {
          namespace: ns,
          name: podName,
          uid: `pod-uid-${s.name}`,
          ip: s.ip,
          canonicalIp: canonicalIp(s.ip),
          ready: true,
          deleting: false,
          pooled: false,
          controller: { kind: SANDBOX_KIND, uid: `sandbox-uid-${ns}-${s.name}` },
          protocol: s.protocol ?? 'grpc',
          agentCredential: s.annotation,
          declaredPorts: s.ports ?? [],
          anyPort: s.anyPort ?? false,
          lastOomKillMs: oomKills.get(`${ns}/${s.name}`),
        }
      : undefined;
  };
  return {
    resolve: (ref) =>
      resolveSandbox(
        {
          claim: (ns, name) => {
            const s = find(ns, name);
            return s ? { namespace: ns, name, uid: claimUid(s) } : undefined;
          },
          claimByUid: (ns, uid) => {
            const s = sandboxes.find((x) => x.namespace === ns && claimUid(x) === uid);
            return s ? { namespace: ns, name: s.name, uid } : undefined;
          },
          sandbox: (ns, name) => {
            const s = find(ns, name);
            return s
              ? {
                  namespace: ns,
                  name,
                  uid: `sandbox-uid-${ns}-${name}`,
                  podName: `pod-${name}`,
                  claimUid: claimUid(s),
                }
              : undefined;
          },
          pod: podOf,
        },
        ref,
      ),
    hasSynced: () => true,
    oomKilledAfter: (pod, afterMs, waitMs, signal) =>
      podChanges.until(
        pod,
        () => oomKilledAfter(podOf(pod.namespace, pod.name), pod, afterMs),
        waitMs,
        signal,
      ),
    recordOomKill(ns, name, atMs) {
      oomKills.set(`${ns}/${name}`, atMs);
      podChanges.changed({ namespace: ns, name: `pod-${name}` });
    },
    close: () => Promise.resolve(),
  };
}
