/** Carries out a Sandbox plan through the client. */
import type { Sandbox, SandboxStatus, Stored } from '@sandbank/api';
import { isKubeError, PERSISTENT_VOLUME_CLAIMS, PODS, SANDBOXES, SERVICES } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import type { SandboxPlan } from './plan.js';

/** Fields a merge patch must null out explicitly when the new status no longer has them. */
const CLEARABLE: readonly (keyof SandboxStatus)[] = ['nodeName', 'service', 'serviceFQDN'];

export async function applySandboxPlan(
  deps: ReconcilerDeps,
  sandbox: Readonly<Stored<Sandbox>>,
  plan: SandboxPlan,
  log: Logger,
): Promise<void> {
  const ns = sandbox.metadata.namespace;
  const name = sandbox.metadata.name;
  for (const action of plan.actions) {
    switch (action.type) {
      case 'create-pod':
        await deps.client.createIfAbsent(PODS, ns, action.pod);
        log.info({ pod: action.pod.metadata.name }, 'sandbox pod created');
        break;
      case 'adopt-pod':
        try {
          await deps.client.replace(PODS, ns, action.pod);
        } catch (error) {
          // The Pod changed since the cache saw it; the update event brings us back.
          if (!isKubeError(error, 'Conflict') && !isKubeError(error, 'NotFound')) throw error;
        }
        break;
      case 'delete-pod':
        await deps.client.delete(PODS, ns, action.name, { uid: action.uid });
        break;
      case 'create-service':
        await deps.client.createIfAbsent(SERVICES, ns, action.service);
        break;
      case 'delete-service':
        await deps.client.delete(SERVICES, ns, action.name);
        break;
      case 'create-pvc':
        await deps.client.createIfAbsent(PERSISTENT_VOLUME_CLAIMS, ns, action.pvc);
        break;
      case 'adopt-pvc':
        try {
          await deps.client.mergePatch(
            PERSISTENT_VOLUME_CLAIMS,
            ns,
            action.name,
            { metadata: { labels: action.labels, ownerReferences: action.ownerReferences } },
            { resourceVersion: action.resourceVersion },
          );
          log.info({ pvc: action.name }, 'warm pod volume claim adopted');
        } catch (error) {
          // The claim changed since the cache saw it; the update event brings us back.
          if (!isKubeError(error, 'Conflict') && !isKubeError(error, 'NotFound')) throw error;
        }
        break;
      case 'delete-sandbox':
        log.info('sandbox expired; deleting it');
        await deps.client.delete(SANDBOXES, ns, name, { uid: sandbox.metadata.uid });
        return;
    }
  }
  if (plan.status) {
    const patch: Record<string, unknown> = { ...plan.status };
    for (const field of CLEARABLE) if (patch[field] === undefined) patch[field] = null;
    await deps.client.patchStatus(SANDBOXES, ns, name, patch);
  }
}
