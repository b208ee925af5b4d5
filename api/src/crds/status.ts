/**
 * Status schemas shared by every served version of each kind. Status is written by the controller
 * through the status subresource, which ignores metadata, so a status field can never travel in a
 * conversion annotation; and the API server prunes what a version's schema does not declare. So
 * each kind has one status, the superset, declared once (in the v1alpha1 module) and served by both
 * versions: what v1beta1 added (a pool's `observedGeneration`, a claim's `sandbox.serviceFQDN`)
 * is optional there, so every status written before it existed still parses.
 */
export { SandboxStatus } from './sandbox.js';
export { SandboxWarmPoolStatus } from './sandbox-warm-pool.js';
export { ClaimedSandboxStatus, SandboxClaimStatus } from './sandbox-claim.js';
