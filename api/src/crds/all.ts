import type { CrdDefinition } from '../crd-definition.js';
import { sandboxCrd } from './sandbox.js';
import { sandboxClaimCrd } from './sandbox-claim.js';
import { sandboxTemplateCrd } from './sandbox-template.js';
import { sandboxWarmPoolCrd } from './sandbox-warm-pool.js';

/** Every custom resource Sandbank serves, in the order the CRD files are written. */
export const crdDefinitions: readonly CrdDefinition[] = [
  sandboxCrd,
  sandboxTemplateCrd,
  sandboxWarmPoolCrd,
  sandboxClaimCrd,
];
