/**
 * TLS for the router's client-facing listeners. Bearer tokens (the router token, Kubernetes
 * tokens) travel on every request, so the HTTP and gRPC ports serve TLS whenever a certificate is
 * configured: PEM files from a mounted Secret (`kubernetes.io/tls`: tls.crt, tls.key), checked at
 * startup and re-read on a timer, so a renewed certificate (cert-manager, a rotated Secret) is
 * served without a restart. A pair that does not belong together (a rotation caught halfway) is
 * never applied: the last good pair keeps serving until the next read.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';

export interface TlsMaterial {
  /** PEM: the serving certificate, then any intermediates. */
  readonly cert: Buffer;
  /** PEM: its private key. */
  readonly key: Buffer;
}

/** What the logs say about a certificate (never the key). */
export interface CertificateFacts {
  readonly subject: string;
  readonly names: string;
  readonly validTo: string;
  readonly fingerprint256: string;
}

export type TlsProblem = 'not-a-certificate' | 'not-a-key' | 'mismatch';

/** Why a pair cannot be served (config.ts names the variable at fault). */
export class TlsMaterialError extends Error {
  override readonly name = 'TlsMaterialError';
  constructor(
    readonly problem: TlsProblem,
    message: string,
  ) {
    super(message);
  }
}

/** Checks that `cert` is a certificate and `key` its private key; throws TlsMaterialError otherwise. */
export function checkTlsMaterial(material: TlsMaterial): CertificateFacts {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(material.cert);
  } catch {
    throw new TlsMaterialError('not-a-certificate', 'the certificate file is not a PEM certificate');
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(material.key);
  } catch {
    throw new TlsMaterialError('not-a-key', 'the key file is not a PEM private key');
  }
  if (!cert.checkPrivateKey(key)) {
    throw new TlsMaterialError('mismatch', 'the key does not belong to the certificate');
  }
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    names: cert.subjectAltName ?? '',
    validTo: cert.validTo,
    fingerprint256: cert.fingerprint256,
  };
}

/** The secure-context options both listeners use. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  // TLS 1.2 is the floor (Node's default, stated so that a changed default cannot lower it).
  return { cert: material.cert, key: material.key, minVersion: 'TLSv1.2' };
}

/**
 * gRPC server credentials whose certificate can be replaced while the server runs. grpc-js keeps
 * the update hook for subclasses (`updateSecureContextOptions`): the server it is bound to calls
 * setSecureContext on its listener, so new connections get the new certificate.
 */
export class ReloadableServerCredentials extends ServerCredentials {
  constructor(material: TlsMaterial) {
    super({}, secureContextOptions(material));
  }

  update(material: TlsMaterial): void {
    this.updateSecureContextOptions(secureContextOptions(material));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

export type ReloadOutcome = 'unchanged' | 'updated' | 'invalid';

export interface CertificateWatcherOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly intervalMs: number;
  /** The pair the listeners started with. */
  readonly initial: TlsMaterial;
  /** A new valid pair: apply it to every listener. */
  readonly onUpdate: (material: TlsMaterial, facts: CertificateFacts) => void;
  /** The files changed but cannot be used (or cannot be read); the current pair stays. */
  readonly onInvalid: (error: Error) => void;
}

/**
 * Re-reads the certificate and key every `intervalMs`. Polling, not fs.watch: a Secret volume
 * updates by swapping a symlink two levels up, which file watches do not reliably report.
 */
export class CertificateWatcher {
  private current: TlsMaterial;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<ReloadOutcome> | undefined;

  constructor(private readonly opts: CertificateWatcherOptions) {
    this.current = opts.initial;
    // check() reports every failure through onInvalid; nothing is left to catch here
    this.timer = setInterval(() => {
      this.check().catch(() => undefined);
    }, opts.intervalMs);
    this.timer.unref();
  }

  /** Reads both files now and applies them if they changed and belong together. */
  check(): Promise<ReloadOutcome> {
    // one read at a time: a slow disk must not let two reads race to apply
    this.running ??= this.read().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async read(): Promise<ReloadOutcome> {
    let next: TlsMaterial;
    try {
      const [cert, key] = await Promise.all([readFile(this.opts.certFile), readFile(this.opts.keyFile)]);
      next = { cert, key };
    } catch (error) {
      this.opts.onInvalid(error instanceof Error ? error : new Error(String(error)));
      return 'invalid';
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return 'unchanged';
    let facts: CertificateFacts;
    try {
      facts = checkTlsMaterial(next);
    } catch (error) {
      this.opts.onInvalid(error instanceof Error ? error : new Error(String(error)));
      return 'invalid';
    }
    try {
      this.opts.onUpdate(next, facts);
    } catch (error) {
      this.opts.onInvalid(error instanceof Error ? error : new Error(String(error)));
      return 'invalid';
    }
    this.current = next;
    return 'updated';
  }
}
