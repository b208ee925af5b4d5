/** What the client's integration tests ask the control plane about a stack's claims. */
import { integrationKubeConfig } from '@sandbank/e2e';
import { EXT, waitFor } from '@sandbank/testing';

const kc = integrationKubeConfig();

/** The SandboxClaim collection of `namespace`. */
export const claimsPath = (namespace: string): string =>
  `/apis/${EXT.group}/${EXT.version}/namespaces/${namespace}/sandboxclaims`;

/** Resolves once claim `name` of `namespace` exists. */
export const claimExists = (namespace: string, name: string): Promise<unknown> =>
  waitFor(kc, claimsPath(namespace), name, (claim) => claim !== undefined, {
    description: `claim ${name} created`,
  });

/** Resolves once claim `name` of `namespace` is gone (or being deleted: no finalizer keeps it long). */
export const claimGone = (namespace: string, name: string): Promise<unknown> =>
  waitFor<{ metadata?: { deletionTimestamp?: string } }>(
    kc,
    claimsPath(namespace),
    name,
    (claim) => claim === undefined || claim.metadata?.deletionTimestamp !== undefined,
    { description: `claim ${name} deleted` },
  );
