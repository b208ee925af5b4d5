/**
 * e2e/cluster/lib/router-tls.sh on its own, as `make up` calls it (router_tls_ensure <dir>
 * <ClusterIP>): the certificate names every address a client of the local cluster dials (the
 * router Service's DNS names, its ClusterIP, loopback for port-forward), is signed by the CA next
 * to it, and is made once: reused while it fits, made anew (by the same CA) when the ClusterIP
 * changes or the file is damaged. The router's own tests serve this certificate over TLS.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterDir } from '../../src/cluster/paths.js';

const run = promisify(execFile);

async function ensure(dir: string, ...ips: string[]): Promise<string> {
  return call('router_tls_ensure', dir, ...ips);
}

async function call(fn: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(
    'bash',
    ['-c', `. "$0/lib/common.sh" && . "$0/lib/router-tls.sh" && ${fn} "$@"`, clusterDir, ...args],
    { timeout: 60_000 },
  );
  return stdout.trim();
}

const DNS_NAMES = [
  'sandbox-router-svc',
  'sandbox-router-svc.sandbank-system',
  'sandbox-router-svc.sandbank-system.svc',
  'sandbox-router-svc.sandbank-system.svc.cluster.local',
  'localhost',
];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sandbank-router-tls-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const files = async (dir: string) => ({
  ca: await readFile(join(dir, 'ca.crt')),
  caKey: await readFile(join(dir, 'ca.key')),
  cert: await readFile(join(dir, 'tls.crt')),
  key: await readFile(join(dir, 'tls.key')),
});

test('a CA and a serving certificate for the Service names, the ClusterIP and loopback', async () => {
  const dir = join(root, 'first');
  expect(await ensure(dir, '10.96.12.34')).toBe('created');
  const f = await files(dir);
  const ca = new X509Certificate(f.ca);
  const leaf = new X509Certificate(f.cert);
  expect(ca.ca).toBe(true);
  expect(leaf.ca).toBe(false);
  expect(leaf.checkIssued(ca)).toBe(true);
  expect(leaf.verify(ca.publicKey)).toBe(true);
  // serverAuth only
  expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  for (const name of DNS_NAMES) expect({ name, match: leaf.checkHost(name) }).toEqual({ name, match: name });
  for (const ip of ['10.96.12.34', '127.0.0.1', '::1'])
    expect({ ip, match: leaf.checkIP(ip) }).toEqual({ ip, match: ip });
  expect(leaf.checkHost('router.example.com')).toBeUndefined();
  expect(leaf.checkIP('10.96.12.35')).toBeUndefined();
  // valid now, and for long enough that a cluster never outlives it unnoticed
  expect(Date.parse(leaf.validFrom)).toBeLessThanOrEqual(Date.now());
  expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(300 * 86_400_000);
  // the keys are the owner's alone
  for (const key of ['ca.key', 'tls.key'])
    expect({ key, mode: (await stat(join(dir, key))).mode & 0o777 }).toEqual({ key, mode: 0o600 });
  expect((await stat(dir)).mode & 0o777).toBe(0o700);
});

test('reused while it fits; a new ClusterIP or a damaged file gets a new certificate from the same CA', async () => {
  const dir = join(root, 'again');
  expect(await ensure(dir, '10.96.0.50')).toBe('created');
  const before = await files(dir);

  expect(await ensure(dir, '10.96.0.50')).toBe('reused');
  expect(await files(dir)).toEqual(before);

  expect(await ensure(dir, '10.96.0.51')).toBe('created');
  const moved = await files(dir);
  expect(moved.ca).toEqual(before.ca);
  expect(moved.caKey).toEqual(before.caKey);
  expect(moved.cert).not.toEqual(before.cert);
  expect(moved.key).not.toEqual(before.key);
  const leaf = new X509Certificate(moved.cert);
  expect(leaf.checkIP('10.96.0.51')).toBe('10.96.0.51');
  expect(leaf.checkIP('10.96.0.50')).toBeUndefined();
  expect(leaf.verify(new X509Certificate(moved.ca).publicKey)).toBe(true);

  await writeFile(join(dir, 'tls.crt'), 'not a certificate\n');
  expect(await ensure(dir, '10.96.0.51')).toBe('created');
  const repaired = await files(dir);
  expect(repaired.ca).toEqual(before.ca);
  expect(new X509Certificate(repaired.cert).checkIP('10.96.0.51')).toBe('10.96.0.51');
});

test("another namespace's router (agent-sandbox compatibility): its Service's names and loopback, the same CA", async () => {
  const central = join(root, 'central');
  const compat = join(root, 'compat');
  expect(await ensure(central, '10.96.0.60')).toBe('created');
  expect(await call('router_tls_ensure_in', 'agent-sandbox-system', central, compat)).toBe('created');
  const c = await files(central);
  const f = await files(compat);
  expect(f.ca).toEqual(c.ca);
  expect(f.caKey).toEqual(c.caKey);
  const leaf = new X509Certificate(f.cert);
  expect(leaf.verify(new X509Certificate(c.ca).publicKey)).toBe(true);
  for (const name of [
    'sandbox-router-svc',
    'sandbox-router-svc.agent-sandbox-system.svc',
    'sandbox-router-svc.agent-sandbox-system.svc.cluster.local',
    'localhost',
  ])
    expect({ name, match: leaf.checkHost(name) }).toEqual({ name, match: name });
  expect(leaf.checkHost('sandbox-router-svc.sandbank-system.svc')).toBeUndefined();
  for (const ip of ['127.0.0.1', '::1']) expect({ ip, match: leaf.checkIP(ip) }).toEqual({ ip, match: ip });
  expect(leaf.checkIP('10.96.0.60')).toBeUndefined();
  for (const key of ['ca.key', 'tls.key'])
    expect({ key, mode: (await stat(join(compat, key))).mode & 0o777 }).toEqual({ key, mode: 0o600 });

  expect(await call('router_tls_ensure_in', 'agent-sandbox-system', central, compat)).toBe('reused');
  expect(await files(compat)).toEqual(f);

  // A new CA for the cluster (the old one expired, or was removed): copied, and the certificate
  // made anew under it.
  await rm(join(central, 'ca.crt'));
  expect(await ensure(central, '10.96.0.60')).toBe('created');
  expect(await call('router_tls_ensure_in', 'agent-sandbox-system', central, compat)).toBe('created');
  const renewed = await files(compat);
  expect(renewed.ca).toEqual((await files(central)).ca);
  expect(renewed.ca).not.toEqual(f.ca);
  expect(new X509Certificate(renewed.cert).verify(new X509Certificate(renewed.ca).publicKey)).toBe(true);
});
