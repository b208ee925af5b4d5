/** Carries out a template plan through the client. */
import type { SandboxTemplate, Stored } from '@sandbank/api';
import { NETWORK_POLICIES } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import type { TemplatePlan } from './plan.js';

export async function applyTemplatePlan(
  deps: ReconcilerDeps,
  template: Readonly<Stored<SandboxTemplate>>,
  plan: TemplatePlan,
  log: Logger,
): Promise<void> {
  const ns = template.metadata.namespace;
  for (const action of plan.actions) {
    switch (action.type) {
      case 'apply-network-policy':
        if (action.exists) {
          await deps.client.mergePatch(NETWORK_POLICIES, ns, action.policy.metadata.name, {
            spec: action.policy.spec,
          });
        } else {
          await deps.client.createIfAbsent(NETWORK_POLICIES, ns, action.policy);
        }
        log.info({ policy: action.policy.metadata.name }, 'template network policy applied');
        break;
      case 'delete-network-policy':
        await deps.client.delete(NETWORK_POLICIES, ns, action.name);
        break;
      case 'event':
        deps.events.event(template, action.eventType, action.reason, action.message);
        break;
    }
  }
}
