/** The SandboxTemplate reconciler: its NetworkPolicy and warnings. */
import { controllerOf, parseKey, type SandboxTemplate } from '@sandbank/api';
import { isKubeError, NETWORK_POLICIES } from '@sandbank/kube';
import type { ReconcileContext } from '../../runtime/controller.js';
import { done, type Result } from '../../runtime/result.js';
import type { ReconcilerDeps } from '../deps.js';
import { SPEC_HASH_ANNOTATION, networkPolicyName, planTemplate, type TemplateObserved } from './plan.js';

export const TEMPLATE_CONTROLLER = 'sandboxtemplate';

function observeTemplate(deps: ReconcilerDeps, template: Readonly<SandboxTemplate>): TemplateObserved {
  const ns = template.metadata.namespace ?? '';
  const policy = deps.caches.networkPolicies.get(ns, networkPolicyName(template.metadata.name ?? ''));
  return {
    template,
    policy: policy
      ? {
          name: policy.metadata.name ?? '',
          specHash: policy.metadata.annotations?.[SPEC_HASH_ANNOTATION],
          controlledByTemplate: controllerOf(policy.metadata)?.uid === template.metadata.uid,
        }
      : undefined,
    router: deps.router,
  };
}

export function createTemplateReconciler(deps: ReconcilerDeps) {
  return async function reconcileTemplate(key: string, ctx: ReconcileContext): Promise<Result> {
    const { namespace, name } = parseKey(key);
    const template = deps.caches.templates.get(namespace, name);
    if (!template) return done;
    for (const action of planTemplate(observeTemplate(deps, template)).actions) {
      switch (action.type) {
        case 'apply-network-policy':
          if (action.exists) {
            await deps.client.mergePatch(NETWORK_POLICIES, namespace, action.policy.metadata.name, {
              spec: action.policy.spec,
            });
          } else {
            await deps.client.create(NETWORK_POLICIES, namespace, action.policy).catch((error: unknown) => {
              if (!isKubeError(error, 'AlreadyExists')) throw error;
            });
          }
          ctx.log.info({ policy: action.policy.metadata.name }, 'template network policy applied');
          break;
        case 'delete-network-policy':
          await deps.client.delete(NETWORK_POLICIES, namespace, action.name);
          break;
        case 'event':
          deps.events.event(template, action.eventType, action.reason, action.message);
          break;
      }
    }
    return done;
  };
}
