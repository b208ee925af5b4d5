// The webhook's own CA and serving certificate: what the DER writer produces parses, chains and
// names what it should (checked by node:crypto and by openssl), and planTls renews exactly when
// the leaf is near expiry, misses a name, or does not belong to its CA or key.
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CA_LIFETIME_MS,
  LEAF_LIFETIME_MS,
  RENEW_BEFORE_MS,
  issueCa,
  issueLeaf,
  planTls,
  readTlsFiles,
  sanNames,
  servingNames,
} from '../../../src/webhook/certs.js';

const NOW = new Date('2026-12-07T10:00:00Z');
const DAY = 86_400_000;
const NAMES = servingNames({ service: { namespace: 'sandbank-system', name: 'sandbank-webhook' } });
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (ca: { certPem: string; keyPem: string }, leaf: { certPem: string; keyPem: string }) => ({
  data: {
    'ca.crt': b64(ca.certPem),
    'ca.key': b64(ca.keyPem),
    'tls.crt': b64(leaf.certPem),
    'tls.key': b64(leaf.keyPem),
  },
});

describe('servingNames', () => {
  it('names the Service in both forms', () => {
    expect(NAMES).toEqual([
      'sandbank-webhook.sandbank-system.svc',
      'sandbank-webhook.sandbank-system.svc.cluster.local',
    ]);
  });
  it('names the URL host and loopback in url mode', () => {
    expect(servingNames({ url: 'https://127.0.0.1:9443/convert' })).toEqual(['127.0.0.1', 'localhost']);
    expect(servingNames({ url: 'https://[::1]:9443/convert' })).toEqual(['::1', '127.0.0.1', 'localhost']);
  });
});

describe('issued certificates', () => {
  const ca = issueCa(NOW);
  const leaf = issueLeaf(ca, [...NAMES, '127.0.0.1', '::1'], NOW);
  const caCert = new X509Certificate(ca.certPem);
  const leafCert = new X509Certificate(leaf.certPem);

  it('makes a P-256 CA valid ten years', () => {
    expect(caCert.ca).toBe(true);
    expect(caCert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(new Date(caCert.validTo).getTime()).toBeCloseTo(NOW.getTime() + CA_LIFETIME_MS, -4);
    expect(new Date(caCert.validFrom).getTime()).toBeLessThan(NOW.getTime());
  });

  it('makes a one-year serving leaf signed by the CA, naming the Service and the IPs', () => {
    expect(leafCert.ca).toBe(false);
    expect(leafCert.checkIssued(caCert)).toBe(true);
    expect(leafCert.verify(caCert.publicKey)).toBe(true);
    expect(leafCert.verify(leafCert.publicKey)).toBe(false);
    expect(new Date(leafCert.validTo).getTime()).toBeCloseTo(NOW.getTime() + LEAF_LIFETIME_MS, -4);
    expect(sanNames(leafCert)).toEqual([...NAMES, '127.0.0.1', '0:0:0:0:0:0:0:1']);
    expect(leafCert.checkHost('sandbank-webhook.sandbank-system.svc')).toBeDefined();
    expect(leafCert.checkHost('sandbank-webhook.other.svc')).toBeUndefined();
    expect(leafCert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leafCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(leafCert.serialNumber).not.toBe(
      new X509Certificate(issueLeaf(ca, NAMES, NOW).certPem).serialNumber,
    );
  });

  it('passes openssl verify as a TLS server certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'webhook-certs-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
      const args = [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        '-attime',
        String(NOW.getTime() / 1000 + 60),
      ];
      const ok = spawnSync('openssl', [...args, '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], {
        encoding: 'utf8',
      });
      expect(`${ok.stdout}${ok.stderr}`.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
      // Another CA's leaf does not verify: the check can fail.
      writeFileSync(join(dir, 'other.pem'), issueLeaf(issueCa(NOW), NAMES, NOW).certPem);
      const bad = spawnSync('openssl', [...args, '-CAfile', join(dir, 'ca.pem'), join(dir, 'other.pem')], {
        encoding: 'utf8',
      });
      expect(bad.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('planTls', () => {
  const ca = issueCa(NOW);
  const leaf = issueLeaf(ca, NAMES, NOW);

  it('keeps a fresh leaf of the CA naming every wanted name', () => {
    const plan = planTls(secret(ca, leaf), NAMES, NOW);
    expect(plan).toEqual({ action: 'keep', tls: { caPem: ca.certPem, ...leaf } });
  });

  it('keeps it until 30 days before expiry, then renews with the same CA', () => {
    const expiry = NOW.getTime() + LEAF_LIFETIME_MS;
    expect(planTls(secret(ca, leaf), NAMES, new Date(expiry - RENEW_BEFORE_MS - DAY)).action).toBe('keep');
    const plan = planTls(secret(ca, leaf), NAMES, new Date(expiry - RENEW_BEFORE_MS + DAY));
    expect(plan).toMatchObject({ action: 'renew-leaf', reason: expect.stringMatching(/^tls\.crt expires/) });
    expect(plan.action === 'renew-leaf' && plan.ca.certPem).toBe(ca.certPem);
  });

  it('renews a leaf missing a wanted name, keeping the names it had', () => {
    const plan = planTls(secret(ca, leaf), ['127.0.0.1'], NOW);
    expect(plan).toMatchObject({ action: 'renew-leaf', reason: 'tls.crt does not name 127.0.0.1' });
    expect(plan.action === 'renew-leaf' && plan.names).toEqual(['127.0.0.1', ...NAMES]);
  });

  it('renews a leaf of another CA, or with another key, or missing', () => {
    const foreign = issueLeaf(issueCa(NOW), NAMES, NOW);
    expect(planTls(secret(ca, foreign), NAMES, NOW)).toMatchObject({
      reason: 'tls.crt is not signed by the CA',
    });
    const swapped = { certPem: leaf.certPem, keyPem: issueLeaf(ca, NAMES, NOW).keyPem };
    expect(planTls(secret(ca, swapped), NAMES, NOW)).toMatchObject({
      reason: 'tls.crt does not match tls.key',
    });
    const { data } = secret(ca, leaf);
    const withoutLeaf: Record<string, string> = { ...data };
    delete withoutLeaf['tls.crt'];
    expect(planTls({ data: withoutLeaf }, NAMES, NOW)).toMatchObject({
      action: 'renew-leaf',
    });
    expect(planTls({ data: { ...data, 'tls.crt': b64('garbage') } }, NAMES, NOW)).toMatchObject({
      action: 'renew-leaf',
      reason: expect.stringMatching(/^tls\.crt does not parse/),
    });
  });

  it('starts over only when the CA itself is unusable', () => {
    const { data } = secret(ca, leaf);
    expect(planTls({}, NAMES, NOW)).toMatchObject({ action: 'new-ca', reason: 'no ca.crt or ca.key' });
    expect(planTls({ data: { ...data, 'ca.key': b64(leaf.keyPem) } }, NAMES, NOW)).toMatchObject({
      action: 'new-ca',
    });
    expect(
      planTls({ data: { ...data, 'ca.crt': b64(leaf.certPem), 'ca.key': b64(leaf.keyPem) } }, NAMES, NOW),
    ).toMatchObject({
      action: 'new-ca',
      reason: 'ca.crt is no CA of ca.key',
    });
    expect(planTls({ data: { 'ca.crt': '!!' } }, NAMES, NOW)).toMatchObject({ action: 'new-ca' });
    const late = new Date(NOW.getTime() + CA_LIFETIME_MS - RENEW_BEFORE_MS + DAY);
    expect(planTls(secret(ca, leaf), NAMES, late)).toMatchObject({
      action: 'new-ca',
      reason: expect.stringMatching(/CA expires/),
    });
  });
});

describe('readTlsFiles', () => {
  it('reads tls.crt, tls.key and an optional ca.crt, and refuses a mismatched pair', async () => {
    const ca = issueCa(NOW);
    const leaf = issueLeaf(ca, NAMES, NOW);
    const dir = mkdtempSync(join(tmpdir(), 'webhook-files-'));
    try {
      writeFileSync(join(dir, 'tls.crt'), leaf.certPem);
      writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
      expect(await readTlsFiles(dir)).toEqual({ caPem: undefined, ...leaf });
      writeFileSync(join(dir, 'ca.crt'), ca.certPem);
      expect((await readTlsFiles(dir)).caPem).toBe(ca.certPem);
      writeFileSync(join(dir, 'tls.key'), ca.keyPem);
      await expect(readTlsFiles(dir)).rejects.toThrow('WEBHOOK_CERT_DIR: tls.crt does not match tls.key');
      rmSync(join(dir, 'tls.key'));
      await expect(readTlsFiles(dir)).rejects.toThrow(/WEBHOOK_CERT_DIR: cannot read tls\.key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
