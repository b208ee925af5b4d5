/**
 * The webhook's serving certificate.
 *
 * `self` mode (default): a CA and a serving leaf in one Secret of the webhook's namespace
 * (`sandbank-webhook-tls`: ca.crt, ca.key, tls.crt, tls.key). Every replica runs
 * `ensureWebhookTls` at start and then every minute: the first creates the Secret (a replica
 * that loses the create, 409, reads the winner's), and any replica that finds the leaf close to
 * expiry, missing a name it serves, or not matching its key re-signs it with the same CA under
 * a resourceVersion-guarded update (409: read again and judge again). The CA (the CRDs'
 * caBundle) lives ten years and is only replaced when it is unusable, so rotating the leaf
 * never touches the CRDs and never leaves a replica serving a certificate the API server
 * rejects.
 *
 * `files` mode: tls.crt, tls.key (and ca.crt, for the caBundle) from a directory, as
 * cert-manager or an operator mounts them; re-read every minute.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRETS, isKubeError } from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { issueCertificate, newKeyPair, parsePrivateKey, privateKeyPem, toPem, type KeyPair } from './x509.js';

const DAY_MS = 86_400_000;
export const CA_LIFETIME_MS = 3650 * DAY_MS;
export const LEAF_LIFETIME_MS = 365 * DAY_MS;
/** Re-sign the leaf when less than this remains (the API server needs a valid one at all times). */
export const RENEW_BEFORE_MS = 30 * DAY_MS;
/** Backdating against clocks a little behind ours (the API server's, another replica's). */
const BACKDATE_MS = 5 * 60_000;
/** Names a leaf keeps at most: wanted names of replicas of several configurations, bounded. */
const MAX_NAMES = 16;
const CA_NAME = 'sandbank-webhook-ca';
const LEAF_NAME = 'sandbank-webhook';

/** PEM text of what the webhook serves and what the API server trusts. */
export interface WebhookTls {
  /** The CRDs' caBundle (PEM). Undefined in `files` mode without ca.crt. */
  readonly caPem: string | undefined;
  readonly certPem: string;
  readonly keyPem: string;
}

export class WebhookTlsError extends Error {
  override readonly name = 'WebhookTlsError';
}

/** The DNS names and IPs the leaf must name: the Service's, or the URL's host (+ loopback). */
export function servingNames(
  target: { readonly service: { namespace: string; name: string } } | { readonly url: string },
  clusterDomain = 'cluster.local',
): string[] {
  if ('service' in target) {
    const { namespace, name } = target.service;
    return [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.${clusterDomain}`];
  }
  const host = new URL(target.url).hostname.replace(/^\[|\]$/g, '');
  return [...new Set([host, '127.0.0.1', 'localhost'])];
}

// --- judging what a Secret holds (pure) -----------------------------------------------------

type SecretKey = 'ca.crt' | 'ca.key' | 'tls.crt' | 'tls.key';

const SecretData = z.looseObject({
  data: z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).optional(),
});

export type TlsPlan =
  | { readonly action: 'keep'; readonly tls: WebhookTls }
  | {
      readonly action: 'renew-leaf';
      readonly reason: string;
      readonly ca: LoadedCa;
      readonly names: string[];
    }
  | { readonly action: 'new-ca'; readonly reason: string };

export interface LoadedCa {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly keyPem: string;
}

/** The leaf's SANs as written by `subjectAltName` ("DNS:a, IP Address:1.2.3.4"). */
export function sanNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s !== '')
    .map((s) => s.replace(/^(DNS|IP Address):/, ''));
}

const sameKey = (cert: X509Certificate, keyPem: string): boolean =>
  cert.publicKey
    .export({ type: 'spki', format: 'der' })
    .equals(createPublicKey(parsePrivateKey(keyPem)).export({ type: 'spki', format: 'der' }));

/**
 * What to do with the Secret's `data` for a webhook serving `wanted` names at `now`: keep it,
 * re-sign the leaf with its CA, or start over with a new CA (only when the CA itself is
 * unusable: missing, unreadable, not matching its key, expiring).
 */
export function planTls(data: unknown, wanted: readonly string[], now: Date): TlsPlan {
  const parsed = SecretData.safeParse(data);
  if (!parsed.success) return { action: 'new-ca', reason: 'the Secret data is not base64' };
  const text = (k: SecretKey): string | undefined => {
    const v = parsed.data.data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  let ca: LoadedCa;
  try {
    const certPem = text('ca.crt');
    const keyPem = text('ca.key');
    if (certPem === undefined || keyPem === undefined)
      return { action: 'new-ca', reason: 'no ca.crt or ca.key' };
    const cert = new X509Certificate(certPem);
    if (!cert.ca || !sameKey(cert, keyPem)) return { action: 'new-ca', reason: 'ca.crt is no CA of ca.key' };
    if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) {
      return { action: 'new-ca', reason: `the CA expires ${cert.validTo}` };
    }
    ca = { cert, certPem, keyPem };
  } catch (error) {
    return { action: 'new-ca', reason: `the CA does not parse: ${String(error)}` };
  }
  const renew = (reason: string, existing: readonly string[] = []): TlsPlan => ({
    action: 'renew-leaf',
    reason,
    ca,
    // Keep names another replica asked for (a rolling update may run two configurations).
    names: [...new Set([...wanted, ...existing])].slice(0, MAX_NAMES),
  });
  try {
    const certPem = text('tls.crt');
    const keyPem = text('tls.key');
    if (certPem === undefined || keyPem === undefined) return renew('no tls.crt or tls.key');
    const leaf = new X509Certificate(certPem);
    if (!leaf.checkIssued(ca.cert) || !leaf.verify(ca.cert.publicKey))
      return renew('tls.crt is not signed by the CA');
    if (!sameKey(leaf, keyPem)) return renew('tls.crt does not match tls.key');
    const names = sanNames(leaf);
    const missing = wanted.filter((n) => !names.includes(n));
    if (missing.length > 0) return renew(`tls.crt does not name ${missing.join(', ')}`, names);
    const left = new Date(leaf.validTo).getTime() - now.getTime();
    if (new Date(leaf.validFrom).getTime() > now.getTime() + BACKDATE_MS) {
      return renew(`tls.crt is not valid before ${leaf.validFrom}`, names);
    }
    if (left < RENEW_BEFORE_MS) return renew(`tls.crt expires ${leaf.validTo}`, names);
    return { action: 'keep', tls: { caPem: ca.certPem, certPem, keyPem } };
  } catch (error) {
    return renew(`tls.crt does not parse: ${String(error)}`);
  }
}

// --- issuing ---------------------------------------------------------------------------------

export function issueCa(now: Date, keys: KeyPair = newKeyPair()): { certPem: string; keyPem: string } {
  const der = issueCertificate({
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    commonName: CA_NAME,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
  });
  return { certPem: toPem(der), keyPem: privateKeyPem(keys.privateKey) };
}

export function issueLeaf(
  ca: { certPem: string; keyPem: string },
  names: readonly string[],
  now: Date,
  lifetimeMs = LEAF_LIFETIME_MS,
): { certPem: string; keyPem: string } {
  const keys = newKeyPair();
  const caKey = parsePrivateKey(ca.keyPem);
  const der = issueCertificate({
    publicKey: keys.publicKey,
    signingKey: caKey,
    issuer: { commonName: CA_NAME, publicKey: createPublicKey(caKey) },
    commonName: LEAF_NAME,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + lifetimeMs),
    dnsNamesAndIps: names,
  });
  return { certPem: toPem(der), keyPem: privateKeyPem(keys.privateKey) };
}

// --- the Secret --------------------------------------------------------------------------------

interface SecretObject extends KubeObject {
  readonly type?: string;
  readonly data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function secretData(ca: { certPem: string; keyPem: string }, leaf: { certPem: string; keyPem: string }) {
  return {
    'ca.crt': b64(ca.certPem),
    'ca.key': b64(ca.keyPem),
    'tls.crt': b64(leaf.certPem),
    'tls.key': b64(leaf.keyPem),
  };
}

export interface EnsureTlsOptions {
  readonly log?: Logger;
  readonly now?: () => Date;
  /** How long transient API failures (and lost update races) are retried. Default 30 s. */
  readonly retryForMs?: number;
  /** Leaf lifetime; tests shorten it to see rotation. Default one year. */
  readonly leafLifetimeMs?: number;
}

const transient = (error: unknown): boolean =>
  isKubeError(error, 'Unavailable') || isKubeError(error, 'Other') || isKubeError(error, 'Conflict');

/**
 * The TLS material in Secret `ref`, created or repaired as needed (see the top of this file).
 * WebhookTlsError naming the Secret when it cannot be read or written.
 */
export async function ensureWebhookTls(
  client: KubeClient,
  ref: { readonly namespace: string; readonly name: string },
  wanted: readonly string[],
  opts: EnsureTlsOptions = {},
): Promise<{ tls: WebhookTls; changed: 'created' | 'renewed' | 'new-ca' | undefined }> {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const now = opts.now ?? (() => new Date());
  const deadline = Date.now() + (opts.retryForMs ?? 30_000);
  const lifetime = opts.leafLifetimeMs ?? LEAF_LIFETIME_MS;
  let delayMs = 100;
  for (;;) {
    try {
      const existing = await client.get<SecretObject>(SECRETS, ref.namespace, ref.name);
      if (existing === undefined) {
        const ca = issueCa(now());
        const leaf = issueLeaf(ca, wanted, now(), lifetime);
        const made = await client.createIfAbsent<SecretObject>(SECRETS, ref.namespace, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: ref.name,
            labels: {
              'app.kubernetes.io/name': 'sandbank-webhook',
              'app.kubernetes.io/part-of': 'sandbank',
            },
          },
          type: 'Opaque',
          data: secretData(ca, leaf),
        });
        // undefined: another replica created it first; judge the winner's next round.
        if (made !== undefined) {
          return { tls: { caPem: ca.certPem, ...leaf }, changed: 'created' };
        }
        continue;
      }
      const plan = planTls(existing, wanted, now());
      if (plan.action === 'keep') return { tls: plan.tls, changed: undefined };
      const ca = plan.action === 'new-ca' ? issueCa(now()) : plan.ca;
      const leaf = issueLeaf(ca, plan.action === 'new-ca' ? wanted : plan.names, now(), lifetime);
      opts.log?.info(
        { secret: `${ref.namespace}/${ref.name}`, reason: plan.reason },
        `webhook TLS: ${plan.action}`,
      );
      // The resourceVersion makes this a compare-and-swap: of replicas renewing together one wins.
      await client.replace<SecretObject>(SECRETS, ref.namespace, { ...existing, data: secretData(ca, leaf) });
      return {
        tls: { caPem: ca.certPem, ...leaf },
        changed: plan.action === 'new-ca' ? 'new-ca' : 'renewed',
      };
    } catch (error) {
      if (isKubeError(error, 'Forbidden')) {
        throw new WebhookTlsError(
          `${where}: forbidden: the webhook needs get, create and update on it (Role sandbank-webhook): ${String(error)}`,
        );
      }
      if (isKubeError(error, 'NotFound')) {
        throw new WebhookTlsError(
          `${where}: cannot be created: does namespace ${ref.namespace} exist? ${String(error)}`,
        );
      }
      if (!transient(error) || Date.now() + delayMs > deadline) {
        throw new WebhookTlsError(`${where}: cannot be read or written: ${String(error)}`);
      }
      if (!isKubeError(error, 'Conflict')) {
        opts.log?.warn(
          { err: error, secret: `${ref.namespace}/${ref.name}` },
          'webhook TLS not available yet; retrying',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 4_000);
    }
  }
}

/** `files` mode: tls.crt and tls.key (required) and ca.crt (optional) from `dir`. */
export async function readTlsFiles(dir: string): Promise<WebhookTls> {
  const read = async (file: string, required: boolean): Promise<string | undefined> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (error) {
      if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new WebhookTlsError(`WEBHOOK_CERT_DIR: cannot read ${file}: ${String(error)}`);
    }
  };
  const [certPem, keyPem, caPem] = await Promise.all([
    read('tls.crt', true),
    read('tls.key', true),
    read('ca.crt', false),
  ]);
  if (certPem === undefined || keyPem === undefined)
    throw new WebhookTlsError('WEBHOOK_CERT_DIR: no tls.crt or tls.key');
  try {
    if (!sameKey(new X509Certificate(certPem), keyPem)) throw new Error('tls.crt does not match tls.key');
  } catch (error) {
    throw new WebhookTlsError(`WEBHOOK_CERT_DIR: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { caPem, certPem, keyPem };
}
