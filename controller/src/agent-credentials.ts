/**
 * Per-pod agent credentials, the controller's part: the agent key and the pods that get a
 * credential from it (the scheme is @sandbank/kube's agent-credential).
 *
 * The key is 32 random bytes in a Secret of the controller's namespace (`sandbank-agent-key`,
 * key `key`), which the router mounts read-only. `ensureAgentKey` reads it at start and creates
 * it when it is missing; two replicas starting together may both try, and the one that loses the
 * create (409) reads the winner's key. The Secret is immutable: a changed key would silently cut
 * every existing sandbox off (each agent holds the digest of a token from the old key), so a
 * rotation is an explicit delete, and restarting the controller and the routers.
 *
 * `withPodCredentials` wraps the kube client: every Pod created through it gets a credential of
 * its own, with a nonce drawn at that moment. This is the one place pods are written, so no path
 * (warm pool, cold start, a batch of pool members from one body) can make a pod without one.
 */
import { randomBytes } from 'node:crypto';
import type { Pod } from '@sandbank/api';
import {
  AGENT_KEY_MIN_BYTES,
  AgentCredentialError,
  PODS,
  SECRETS,
  checkAgentKey,
  credentialAnnotation,
  isKubeError,
} from '@sandbank/kube';
import type { KubeClient, KubeObject, ObjectWrite, ResourceType } from '@sandbank/kube';
import { z } from 'zod';
import type { Logger } from './observability/logger.js';
import { podCredential, withAgentCredential } from './reconcilers/shared/pure-agent-credential.js';

/** The Secret's key that holds the agent key. */
export const AGENT_KEY_FIELD = 'key';

/** The agent key cannot be had; the message says what to do. The controller does not start. */
export class AgentKeyError extends Error {
  override readonly name = 'AgentKeyError';
}

export interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

interface SecretObject extends KubeObject {
  readonly type?: string;
  readonly immutable?: boolean;
  readonly data?: Record<string, string>;
}

const SecretData = z.looseObject({
  data: z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).optional(),
});

/** The agent key in a stored Secret; AgentKeyError naming the Secret and the fix otherwise. */
function keyOf(secret: unknown, ref: SecretRef): Buffer {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const parsed = SecretData.safeParse(secret);
  if (!parsed.success) {
    throw new AgentKeyError(`${where}: data: ${parsed.error.issues[0]?.message ?? 'unreadable'}`);
  }
  const encoded = parsed.data.data?.[AGENT_KEY_FIELD];
  const fix =
    `delete the Secret so that the controller creates a new key (${AGENT_KEY_MIN_BYTES} random bytes), ` +
    'then restart the routers and recreate the sandbox pods made with the old one';
  if (encoded === undefined) throw new AgentKeyError(`${where} has no key "${AGENT_KEY_FIELD}": ${fix}`);
  const key = Buffer.from(encoded, 'base64');
  try {
    checkAgentKey(key);
  } catch (error) {
    if (!(error instanceof AgentCredentialError)) throw error;
    throw new AgentKeyError(`${where}, key "${AGENT_KEY_FIELD}": ${error.message}; ${fix}`);
  }
  return key;
}

/** A failure of the API that trying again may cure (the API server starting, a timeout). */
const transient = (error: unknown): boolean =>
  isKubeError(error, 'Unavailable') || isKubeError(error, 'Other') || isKubeError(error, 'Conflict');

export interface EnsureOptions {
  readonly log?: Logger;
  /** How long transient API failures are retried before giving up. Default 30 s. */
  readonly retryForMs?: number;
  /** A fresh key; default 32 bytes from the CSPRNG. */
  readonly newKey?: () => Buffer;
}

/**
 * The agent key from `ref`, creating the Secret with a fresh key when it does not exist.
 * AgentKeyError when the key cannot be used or the Secret cannot be read or made (forbidden, no
 * such namespace), once transient failures stopped for `retryForMs`.
 */
export async function ensureAgentKey(
  client: KubeClient,
  ref: SecretRef,
  opts: EnsureOptions = {},
): Promise<{ key: Buffer; created: boolean }> {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const deadline = Date.now() + (opts.retryForMs ?? 30_000);
  let delayMs = 250;
  for (;;) {
    try {
      const existing = await client.get<SecretObject>(SECRETS, ref.namespace, ref.name);
      if (existing !== undefined) return { key: keyOf(existing, ref), created: false };
      const fresh = (opts.newKey ?? (() => randomBytes(AGENT_KEY_MIN_BYTES)))();
      checkAgentKey(fresh);
      const made = await client.createIfAbsent<SecretObject>(SECRETS, ref.namespace, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: ref.name,
          labels: {
            'app.kubernetes.io/name': 'sandbank-controller',
            'app.kubernetes.io/part-of': 'sandbank',
          },
        },
        type: 'Opaque',
        immutable: true,
        data: { [AGENT_KEY_FIELD]: fresh.toString('base64') },
      });
      // undefined: another replica created it first; its key is the one (read it next round).
      if (made !== undefined) return { key: keyOf(made, ref), created: true };
      continue;
    } catch (error) {
      if (error instanceof AgentKeyError) throw error;
      if (isKubeError(error, 'Forbidden')) {
        throw new AgentKeyError(
          `${where}: forbidden: the controller needs get and create on it (Role sandbank-controller-agent-key in ${ref.namespace}): ${String(error)}`,
        );
      }
      if (isKubeError(error, 'NotFound')) {
        throw new AgentKeyError(
          `${where}: cannot be created: does namespace ${ref.namespace} exist? ${String(error)}`,
        );
      }
      if (!transient(error) || Date.now() + delayMs > deadline) {
        throw new AgentKeyError(`${where}: cannot be read or created: ${String(error)}`);
      }
      opts.log?.warn(
        { err: error, secret: `${ref.namespace}/${ref.name}` },
        'agent key not available yet; retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 4_000);
    }
  }
}

const isPods = (type: ResourceType): boolean => type.group === PODS.group && type.plural === PODS.plural;

/**
 * `client`, except that every Pod it creates first gets a credential of its own: a fresh nonce
 * (`annotation()`), its annotation, and the digest of its token in every container.
 */
export function withPodCredentials(
  client: KubeClient,
  key: Buffer,
  annotation: () => string = () => credentialAnnotation(),
): KubeClient {
  checkAgentKey(key);
  const stamp = <T extends KubeObject>(type: ResourceType, namespace: string, obj: T): T => {
    if (!isPods(type)) return obj;
    const pod = obj as unknown as Pod;
    if (!Array.isArray(pod.spec?.containers))
      throw new Error('a Pod without spec.containers cannot be created');
    return withAgentCredential(pod, podCredential(key, namespace, annotation())) as unknown as T;
  };
  const create: ObjectWrite = (type, namespace, obj) =>
    client.create(type, namespace, stamp(type, namespace, obj));
  return {
    get: (type, namespace, name) => client.get(type, namespace, name),
    list: (type, namespace, opts) => client.list(type, namespace, opts),
    create,
    createIfAbsent: (type, namespace, obj) =>
      client.createIfAbsent(type, namespace, stamp(type, namespace, obj)),
    replace: (type, namespace, obj) => client.replace(type, namespace, obj),
    mergePatch: (type, namespace, name, patch, opts) => client.mergePatch(type, namespace, name, patch, opts),
    patchStatus: (type, namespace, name, status) => client.patchStatus(type, namespace, name, status),
    delete: (type, namespace, name, opts) => client.delete(type, namespace, name, opts),
  };
}
