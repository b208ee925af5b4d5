/**
 * The binding invariants of the crash test, checked on every watch event for the whole run
 * (not only at the end), and the end-state consistency check.
 *
 * - A Pod's `agents.x-k8s.io/claim-uid` label, once set, never changes to another claim's UID
 *   and is never removed while the Pod lives.
 * - No two live Sandboxes of different claims name the same Pod in `agents.x-k8s.io/pod-name`,
 *   and no Sandbox names a Pod bound to another claim.
 */
import { Annotations, Labels } from '@sandbank/api';
import { type Obj, type WatchEventType, isReady } from '@sandbank/testing';

const controllerOf = (o: Obj) => o.metadata.ownerReferences?.find((r) => r.controller);

export class BindingInvariants {
  readonly violations: string[] = [];
  /** Pod UID → the claim UID it was bound to (kept after deletion: UIDs are never reused). */
  private readonly podClaim = new Map<string, string>();
  /** Pod name → UID of the live Pod with that name. */
  private readonly podUidByName = new Map<string, string>();
  /** Live Sandboxes: name → {owner claim UID, annotated pod}. */
  private readonly sandboxes = new Map<string, { claimUid: string; pod: string | undefined }>();
  /** Pod name → one line per version seen, for failure messages. */
  private readonly podHistory = new Map<string, string[]>();
  podEvents = 0;
  sandboxEvents = 0;

  /** What the watch saw of the pods named in `text` (failure messages). */
  historyOf(text: string): string {
    return [...this.podHistory]
      .filter(([name]) => text.includes(name))
      .slice(0, 6)
      .map(([name, lines]) => `${name}:\n    ${lines.join('\n    ')}`)
      .join('\n');
  }

  onPod = (type: WatchEventType, pod: Obj): void => {
    this.podEvents++;
    const uid = pod.metadata.uid ?? '';
    const name = pod.metadata.name;
    const label = pod.metadata.labels?.[Labels.claimUid];
    const before = this.podClaim.get(uid);
    const owner = controllerOf(pod);
    const lines = this.podHistory.get(name) ?? [];
    lines.push(
      `${type} rv=${pod.metadata.resourceVersion ?? '?'} claim-uid=${label ?? '-'} owner=${owner?.kind ?? '-'}/${owner?.name ?? '-'}${pod.metadata.deletionTimestamp ? ' terminating' : ''}`,
    );
    this.podHistory.set(name, lines);
    if (before !== undefined && label !== before) {
      this.violations.push(
        `pod ${name} (${uid}): claim-uid ${before} → ${label ?? '(removed)'} at rv ${pod.metadata.resourceVersion ?? '?'}`,
      );
    }
    if (label) this.podClaim.set(uid, label);
    if (type === 'DELETED') this.podUidByName.delete(name);
    else this.podUidByName.set(name, uid);
    if (label) this.checkPod(name);
  };

  onSandbox = (type: WatchEventType, sandbox: Obj): void => {
    this.sandboxEvents++;
    const name = sandbox.metadata.name;
    if (type === 'DELETED') {
      this.sandboxes.delete(name);
      return;
    }
    const pod = sandbox.metadata.annotations?.[Annotations.podName];
    this.sandboxes.set(name, { claimUid: controllerOf(sandbox)?.uid ?? '', pod });
    if (pod) this.checkPod(pod);
  };

  /** Everything that names `podName` must agree on one claim. */
  private checkPod(podName: string): void {
    const pointing = [...this.sandboxes].filter(([, s]) => s.pod === podName);
    const claims = new Set(pointing.map(([, s]) => s.claimUid));
    if (claims.size > 1) {
      this.violations.push(
        `pod ${podName} named by Sandboxes of ${claims.size} claims: ${pointing.map(([n]) => n).join(', ')}`,
      );
    }
    const podUid = this.podUidByName.get(podName);
    const boundTo = podUid === undefined ? undefined : this.podClaim.get(podUid);
    for (const [sandboxName, s] of pointing) {
      if (boundTo !== undefined && s.claimUid !== boundTo) {
        this.violations.push(
          `Sandbox ${sandboxName} (claim ${s.claimUid}) names pod ${podName} bound to claim ${boundTo}`,
        );
      }
    }
  }
}

export interface Snapshot {
  readonly claims: readonly Obj[];
  readonly sandboxes: readonly Obj[];
  readonly pods: readonly Obj[];
  readonly pool: Obj | undefined;
}

/**
 * Problems with the end state, or undefined when it is consistent: every expected claim Ready
 * with a Sandbox named after it and owned by it; every Sandbox owned by a live claim; every
 * live Pod either an unbound pool member or the Pod of a live Sandbox of the same claim; no Pod
 * named by two Sandboxes; the pool at `replicas` Ready members.
 */
export function endStateProblems(s: Snapshot, expectedClaims: readonly string[], replicas: number): string[] {
  const problems: string[] = [];
  const claims = new Map(s.claims.map((c) => [c.metadata.name, c]));
  const claimUids = new Set(s.claims.map((c) => c.metadata.uid ?? ''));
  const sandboxes = new Map(s.sandboxes.map((x) => [x.metadata.name, x]));
  const sandboxUids = new Map(s.sandboxes.map((x) => [x.metadata.uid ?? '', x]));
  const pods = new Map(s.pods.map((p) => [p.metadata.name, p]));

  const notReady = expectedClaims.filter((n) => !isReady(claims.get(n)));
  if (notReady.length > 0)
    problems.push(`${notReady.length} claims not Ready: ${notReady.slice(0, 5).join(', ')}`);
  for (const name of expectedClaims) {
    const claim = claims.get(name);
    const sandbox = sandboxes.get(name);
    if (!claim) problems.push(`claim ${name} missing`);
    else if (!sandbox) problems.push(`claim ${name} has no Sandbox named after it`);
    else if (controllerOf(sandbox)?.uid !== claim.metadata.uid)
      problems.push(`Sandbox ${name} not owned by its claim`);
    else if (claim.status?.sandbox?.name !== name)
      problems.push(`claim ${name} status.sandbox.name is not ${name}`);
  }
  for (const sandbox of s.sandboxes) {
    if (!claimUids.has(controllerOf(sandbox)?.uid ?? '')) {
      problems.push(`orphan Sandbox ${sandbox.metadata.name}`);
    }
  }

  const named = new Map<string, string>();
  for (const sandbox of s.sandboxes) {
    const name = sandbox.metadata.name;
    const podName = sandbox.metadata.annotations?.[Annotations.podName] ?? name;
    const other = named.get(podName);
    if (other !== undefined) problems.push(`pod ${podName} named by Sandboxes ${other} and ${name}`);
    named.set(podName, name);
    const pod = pods.get(podName);
    if (!pod) problems.push(`Sandbox ${name}'s pod ${podName} does not exist`);
    else if (controllerOf(pod)?.uid !== sandbox.metadata.uid)
      problems.push(`pod ${podName} not adopted by Sandbox ${name}`);
  }

  let poolMembers = 0;
  for (const pod of s.pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const name = pod.metadata.name;
    const owner = controllerOf(pod);
    const claimUid = pod.metadata.labels?.[Labels.claimUid];
    if (owner?.kind === 'SandboxWarmPool') {
      poolMembers++;
      if (claimUid) problems.push(`pool pod ${name} carries claim-uid ${claimUid}`);
      continue;
    }
    const sandbox = owner?.kind === 'Sandbox' ? sandboxUids.get(owner.uid) : undefined;
    if (!sandbox) {
      problems.push(`orphan pod ${name} (owner ${owner?.kind ?? 'none'} ${owner?.name ?? ''})`);
      continue;
    }
    if (claimUid !== controllerOf(sandbox)?.uid) {
      problems.push(`pod ${name} claim-uid ${claimUid ?? '(none)'} is not its Sandbox's claim`);
    }
    if (named.get(name) !== sandbox.metadata.name) {
      problems.push(`pod ${name} owned by Sandbox ${sandbox.metadata.name} which names another pod`);
    }
  }
  const status = s.pool?.status;
  if (poolMembers !== replicas || status?.readyReplicas !== replicas || status.replicas !== replicas) {
    problems.push(
      `pool: ${poolMembers} member pods, status ${status?.readyReplicas ?? '?'}/${status?.replicas ?? '?'} ready, want ${replicas}`,
    );
  }
  return problems;
}
