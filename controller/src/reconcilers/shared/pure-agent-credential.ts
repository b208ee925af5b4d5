/**
 * A sandbox pod's agent credential (the scheme is @sandbank/kube's agent-credential): the pod
 * carries its nonce as the annotation `sandbank.dev/agent-credential`, and every container
 * carries SANDBANK_AGENT_TOKEN_SHA256, the digest of the token derived from the agent key, the
 * pod's namespace and that nonce. The token itself goes nowhere: the router re-derives it.
 *
 * Every container gets the digest, init containers too: which of them runs the Sandbank agent is
 * the template's business (a sidecar agent is an init container), and the digest is no secret.
 * A digest the template set itself is replaced: the router presents the derived token only.
 *
 * Pure: the caller draws the nonce (one per pod, at the moment it creates the pod).
 */
import type { Container, Pod } from '@sandbank/api';
import {
  AGENT_CREDENTIAL_ANNOTATION,
  AGENT_TOKEN_DIGEST_ENV,
  agentToken,
  agentTokenDigest,
} from '@sandbank/kube';

export interface PodCredential {
  /** The annotation value: `v1.<nonce>`. */
  readonly annotation: string;
  /** The hex SHA-256 of the pod's token. */
  readonly digest: string;
}

/** The credential of a pod in `namespace` whose annotation is `annotation`. */
export function podCredential(key: Buffer, namespace: string, annotation: string): PodCredential {
  return { annotation, digest: agentTokenDigest(agentToken(key, namespace, annotation)) };
}

function withDigest<C extends Container>(container: C, digest: string): C {
  const env: unknown[] = Array.isArray(container['env']) ? (container['env'] as unknown[]) : [];
  const others = env.filter(
    (e) =>
      !(e !== null && typeof e === 'object' && (e as { name?: unknown }).name === AGENT_TOKEN_DIGEST_ENV),
  );
  return { ...container, env: [...others, { name: AGENT_TOKEN_DIGEST_ENV, value: digest }] };
}

/** `pod` with `credential`: the annotation, and the digest in every container's environment. */
export function withAgentCredential(pod: Pod, credential: PodCredential): Pod {
  const { spec } = pod;
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      annotations: { ...pod.metadata.annotations, [AGENT_CREDENTIAL_ANNOTATION]: credential.annotation },
    },
    spec: {
      ...spec,
      containers: spec.containers.map((c) => withDigest(c, credential.digest)),
      ...(spec.initContainers
        ? { initContainers: spec.initContainers.map((c) => withDigest(c, credential.digest)) }
        : {}),
    },
  };
}
