import type { CrdDefinition, CrdVersionPair } from '../crd-definition.js';
import * as v1alpha1 from './v1alpha1/index.js';
import * as v1beta1 from './v1beta1/index.js';

/**
 * Every custom resource Sandbank serves, in the order the CRD files are written: each kind in
 * v1beta1 (stored) and v1alpha1 (served through the conversion webhook).
 */
export const crdVersionPairs: readonly CrdVersionPair[] = [
  { beta: v1beta1.sandboxCrd, alpha: v1alpha1.sandboxCrd },
  { beta: v1beta1.sandboxTemplateCrd, alpha: v1alpha1.sandboxTemplateCrd },
  { beta: v1beta1.sandboxWarmPoolCrd, alpha: v1alpha1.sandboxWarmPoolCrd },
  { beta: v1beta1.sandboxClaimCrd, alpha: v1alpha1.sandboxClaimCrd },
];

/** The storage version's definitions (v1beta1), one per kind. */
export const crdDefinitions: readonly CrdDefinition[] = crdVersionPairs.map((pair) => pair.beta);
