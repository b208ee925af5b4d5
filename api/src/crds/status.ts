/**
 * Status schemas shared by every served version of each kind. Status is written by the controller
 * through the status subresource, which ignores metadata, so a status field can never travel in a
 * conversion annotation: each status is one superset that both versions carry verbatim.
 *
 * Built on the v1alpha1 status objects so there is one definition per field; what v1beta1 added
 * (a pool's `observedGeneration`, a claim's `sandbox.serviceFQDN`) is optional, so every status
 * written before it existed still parses.
 */
import { z } from 'zod';
import {
  SandboxClaimStatus as ClaimStatusV1alpha1,
  ClaimedSandboxStatus as ClaimedV1alpha1,
} from './sandbox-claim.js';
import { SandboxWarmPoolStatus as PoolStatusV1alpha1 } from './sandbox-warm-pool.js';

/** A Sandbox's status: already the superset (v1beta1 dropped nothing Sandbank reports). */
export { SandboxStatus } from './sandbox.js';

export const SandboxWarmPoolStatus = PoolStatusV1alpha1.extend({
  observedGeneration: z.int().min(0).optional().describe('The pool generation the controller last acted on.'),
});
export type SandboxWarmPoolStatus = z.infer<typeof SandboxWarmPoolStatus>;

export const ClaimedSandboxStatus = ClaimedV1alpha1.extend({
  serviceFQDN: z.string().optional().describe("DNS name of the Sandbox's headless Service, if any."),
});
export type ClaimedSandboxStatus = z.infer<typeof ClaimedSandboxStatus>;

export const SandboxClaimStatus = ClaimStatusV1alpha1.extend({
  sandbox: ClaimedSandboxStatus.optional(),
});
export type SandboxClaimStatus = z.infer<typeof SandboxClaimStatus>;
