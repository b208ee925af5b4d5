/**
 * Says why Sandboxes outlived their claims: for each Sandbox still in a namespace, its identity,
 * owner references, finalizers, deletion state, the labels and annotations the controller keys
 * on, and whether the claim it names (by owner reference and by label) and its Pod still exist.
 * A wait for "every Sandbox gone" that times out prints this instead of a bare count.
 */
import { Annotations, Labels } from '@sandbank/api';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type Obj, listClaims, listSandboxes } from './fixtures.js';

export async function describeSandboxes(kc: KubeConfig, ns: string): Promise<string[]> {
  const [sandboxes, claims, pods] = await Promise.all([
    listSandboxes(kc, ns),
    listClaims(kc, ns),
    kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns }),
  ]);
  const claimUids = new Map(claims.map((c) => [c.metadata.uid ?? '', c]));
  const podsByName = new Map((pods.items as unknown as Obj[]).map((p) => [p.metadata.name, p]));
  return sandboxes.map((s) => {
    const meta = s.metadata;
    const owners = (meta.ownerReferences ?? []).map((r) => {
      const owner = claimUids.get(r.uid);
      return `${r.kind}/${r.name} uid=${r.uid}${r.controller ? ' controller' : ''} (${owner ? 'exists' : 'gone'})`;
    });
    const claimUid = meta.labels?.[Labels.claimUid];
    const podName = meta.annotations?.[Annotations.podName] || meta.name;
    const pod = podsByName.get(podName);
    const podOwner = pod?.metadata.ownerReferences?.find((r) => r.controller);
    const podState = pod
      ? `pod ${podName} exists (owner ${podOwner ? `${podOwner.kind}/${podOwner.name} uid=${podOwner.uid}` : 'none'}` +
        `, claim-uid=${pod.metadata.labels?.[Labels.claimUid] ?? '-'}` +
        `${pod.metadata.deletionTimestamp ? `, deleting since ${String(pod.metadata.deletionTimestamp)}` : ''})`
      : `pod ${podName} gone`;
    const managers = (meta.managedFields ?? [])
      .map(
        (f) =>
          `${f.manager ?? '?'}:${f.operation ?? '?'}${f.subresource ? `/${f.subresource}` : ''}@${String(f.time)}`,
      )
      .join(' ');
    return [
      `sandbox ${meta.name} uid=${meta.uid ?? '-'} rv=${meta.resourceVersion ?? '-'} created=${String(meta.creationTimestamp)}`,
      `owners=[${owners.join('; ')}]`,
      `finalizers=[${(meta.finalizers ?? []).join(',')}]`,
      `deletionTimestamp=${meta.deletionTimestamp ? String(meta.deletionTimestamp) : '-'}`,
      `claim-uid=${claimUid ?? '-'} (${claimUid && claimUids.has(claimUid) ? 'claim exists' : 'no such claim'})`,
      `launch-type=${meta.labels?.[Labels.launchType] ?? '-'}`,
      podState,
      `managedFields=${managers}`,
    ].join(' | ');
  });
}
