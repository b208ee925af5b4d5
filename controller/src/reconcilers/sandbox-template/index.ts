/** The SandboxTemplate reconciler: its NetworkPolicy and warnings. */
import { SANDBOX_TEMPLATE_KIND } from '@sandbank/api';
import type { ReconcilerDeps } from '../deps.js';
import { reconciler, type Reconciler } from '../reconciler.js';
import { applyTemplatePlan } from './apply.js';
import { observeTemplate } from './observe.js';
import { planTemplate } from './plan.js';

export const TEMPLATE_CONTROLLER = 'sandboxtemplate';

export function createTemplateReconciler(deps: ReconcilerDeps): Reconciler {
  return reconciler(deps.now, {
    name: TEMPLATE_CONTROLLER,
    watches: {
      for: 'templates',
      kind: SANDBOX_TEMPLATE_KIND,
      owns: ['networkPolicies'],
      watches: [],
      hooks: [],
    },
    observe: (key) => observeTemplate(deps.caches, key, deps.router, deps.profileOf),
    plan: (observed) => planTemplate(observed),
    apply: (observed, plan, ctx) => applyTemplatePlan(deps, observed.template, plan, ctx.log),
  });
}
