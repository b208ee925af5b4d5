/**
 * The router's auth in every rendered install (#17): `kubernetes` mode in the base and the GKE
 * overlays (with the RBAC it needs and no token Secret left over), `token` mode only where it is
 * the documented development or per-namespace choice, each token with its namespaces. Each
 * router's environment is fed, as the kubelet would fill it in, to the router's own loadConfig:
 * a rendered router that would refuse to start fails here. Every router also mounts the optional
 * Secret sandbank-preview-keys (signed preview links, #19) and starts with or without it.
 */
import { ConfigError, loadConfig } from '@sandbank/router';
import type { AuthConfig } from '@sandbank/router';
import { OVERLAYS, arr, containersOf, kindOf, nameOf, obj, render, str } from '../render.js';
import type { Obj } from '../render.js';

/** The namespace a namespace-scoped router is applied to (`kubectl apply -k … -n team-a`). */
const APPLIED_TO = 'team-a';
const ROUTER = 'sandbox-router-deployment';

/** A router outside sandbank-system is keyed `<dir> <namespace>`. */
const COMPAT = 'agent-sandbox-system';

/**
 * What each install's router authenticates with: its mode, per token its namespaces, and the
 * namespaces of token-less port-forwards (agent-sandbox compatibility).
 */
const EXPECTED: Readonly<
  Record<string, { mode: AuthConfig['mode']; scopes?: Record<string, string>; portForward?: string[] }>
> = {
  'manifests/base': { mode: 'kubernetes' },
  'manifests/overlays/gke-autopilot': { mode: 'kubernetes' },
  'manifests/overlays/gke-standard': { mode: 'kubernetes' },
  'manifests/test/fixtures/gke-autopilot-gateway': { mode: 'kubernetes' },
  'manifests/test/fixtures/cert-manager': { mode: 'kubernetes' },
  'manifests/overlays/local': { mode: 'token', scopes: { token: '*' } },
  // The local overlay with per-namespace routers.
  'manifests/test/fixtures/per-namespace-router': { mode: 'token', scopes: { token: '*' } },
  'manifests/namespace-router': { mode: 'token', scopes: { token: APPLIED_TO }, portForward: [APPLIED_TO] },
  // The agent-sandbox compatibility router (components/agent-sandbox-compat), alone and beside the central one.
  [`manifests/components/agent-sandbox-compat ${COMPAT}`]: { mode: 'kubernetes', portForward: ['default'] },
  [`manifests/overlays/local/agent-sandbox-compat ${COMPAT}`]: {
    mode: 'kubernetes',
    portForward: ['default'],
  },
  'manifests/test/fixtures/agent-sandbox-compat': { mode: 'kubernetes' },
  [`manifests/test/fixtures/agent-sandbox-compat ${COMPAT}`]: {
    mode: 'kubernetes',
    portForward: ['default'],
  },
};

/** The pod's IPs as the downward API gives `status.podIPs` to an env var (dual-stack). */
const POD_IPS = '10.244.0.7,fd00:10:244::7';

/** The container's environment as the kubelet gives it: `$(VAR)` of earlier entries filled in. */
function kubeletEnv(container: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of arr(container['env']).map(obj)) {
    const from = obj(obj(e['valueFrom'])['fieldRef'])['fieldPath'];
    const value =
      from === 'metadata.namespace'
        ? APPLIED_TO
        : from === 'status.podIPs'
          ? POD_IPS
          : str(e['value']).replace(
              /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
              (ref, name: string) => out[name] ?? ref,
            );
    out[str(e['name'])] = value;
  }
  return out;
}

/** The Secret mounted at the directory holding `file`, or undefined. */
function secretHolding(podSpec: Obj, container: Obj, file: string): string | undefined {
  const mount = arr(container['volumeMounts'])
    .map(obj)
    .find((m) => file.startsWith(`${str(m['mountPath'])}/`));
  const volume = arr(podSpec['volumes'])
    .map(obj)
    .find((v) => v['name'] === mount?.['name']);
  const name = obj(volume?.['secret'])['secretName'];
  return typeof name === 'string' ? name : undefined;
}

const routers = OVERLAYS.flatMap((dir) => {
  const objects = render(dir);
  return objects
    .filter((o) => kindOf(o) === 'Deployment' && nameOf(o) === ROUTER)
    .map((d) => ({
      dir: obj(d['metadata'])['namespace'] === COMPAT ? `${dir} ${COMPAT}` : dir,
      objects,
      podSpec: obj(obj(obj(d['spec'])['template'])['spec']),
    }));
});

test('every install with a router states how it authenticates (none is left to a default)', () => {
  expect(routers.map((r) => r.dir).sort()).toEqual(Object.keys(EXPECTED).sort());
});

describe.each(routers)('$dir', ({ dir, objects, podSpec }) => {
  const expected = EXPECTED[dir];
  const container = obj(containersOf(podSpec).find((c) => obj(c)['name'] === 'router'));
  const env = kubeletEnv(container);

  /**
   * The router's own configuration check on this environment, its mounted directories listing
   * `dirFiles` (every mounted directory alike) and every file read 32 bytes of key or a token.
   */
  function start(dirFiles: string[]) {
    // TLS is checked against real certificates elsewhere; here only auth and keys matter.
    const rest = { ...env };
    delete rest['ROUTER_TLS_CERT_FILE'];
    delete rest['ROUTER_TLS_KEY_FILE'];
    // A router bound to its pod's IPs is not on loopback: without the certificate, the opt-out.
    if (rest['ROUTER_BIND_ADDRESSES'] !== undefined) rest['ROUTER_INSECURE_PLAINTEXT'] = 'true';
    const files: string[] = [];
    const keyFiles: string[] = [];
    const dirs: string[] = [];
    try {
      const config = loadConfig(
        { ...rest, ROUTER_HOST: '127.0.0.1' },
        (path) => {
          files.push(path);
          return 'a-mounted-token-of-32-characters';
        },
        (path) => {
          dirs.push(path);
          return dirFiles;
        },
        (path) => {
          keyFiles.push(path);
          return Buffer.alloc(32, 1);
        },
      );
      return { config, files, keyFiles, dirs };
    } catch (error) {
      if (error instanceof ConfigError)
        throw new Error(`${dir}: the router would not start: ${error.message}`);
      throw error;
    }
  }

  it(`starts in ${expected?.mode ?? '?'} mode (the router's own configuration check)`, () => {
    // No preview keys: the optional Secret sandbank-preview-keys was not created.
    const { config, files, keyFiles } = start([]);
    expect(config.auth.mode).toBe(expected?.mode);
    // Token-less port-forwards only where documented, and then never on a wildcard bind.
    expect(config.portForward?.namespaces).toEqual(expected?.portForward);
    if (config.portForward !== undefined) expect(config.networkHosts).toEqual(POD_IPS.split(','));
    // Every router holds the agent key, from the Secret the controller made (agent credentials).
    expect(config.agentKey).toBeDefined();
    expect(keyFiles.map((file) => secretHolding(podSpec, container, file))).toEqual(['sandbank-agent-key']);
    if (config.auth.mode === 'token') {
      const scopes = Object.fromEntries(
        Object.entries(config.auth.tokens).map(([name, grant]) => [
          name,
          grant.namespaces.kind === 'all' ? '*' : [...grant.namespaces.namespaces].join(','),
        ]),
      );
      expect(scopes).toEqual(expected?.scopes);
      // Every token file it reads is in the Secret sandbox-router-auth.
      for (const file of files)
        expect({ file, secret: secretHolding(podSpec, container, file) }).toEqual({
          file,
          secret: 'sandbox-router-auth',
        });
    }
  });

  it('reads preview-link keys from the optional Secret sandbank-preview-keys: off without it, on with a key', () => {
    expect(start([]).config.previews.keys).toBeUndefined();
    const { config, keyFiles, dirs } = start(['..data', '2026-12']);
    expect(config.previews.keys?.signingKeyId).toBe('2026-12');
    expect(dirs.map((d) => secretHolding(podSpec, container, `${d}/2026-12`))).toEqual([
      'sandbank-preview-keys',
    ]);
    const keyFile = keyFiles.find((f) => f.endsWith('/2026-12')) ?? '';
    expect(secretHolding(podSpec, container, keyFile)).toBe('sandbank-preview-keys');
    // optional: an install without the Secret still starts its router pods (previews off)
    const volume = arr(podSpec['volumes'])
      .map(obj)
      .find((v) => obj(v['secret'])['secretName'] === 'sandbank-preview-keys');
    expect(obj(volume?.['secret'])['optional']).toBe(true);
    const mount = arr(container['volumeMounts'])
      .map(obj)
      .find((m) => m['name'] === volume?.['name']);
    expect(mount?.['readOnly']).toBe(true);
  });

  if (expected?.mode === 'kubernetes') {
    it('may ask TokenReviews and SubjectAccessReviews, and mounts no token Secret', () => {
      const delegator = objects.find(
        (o) =>
          kindOf(o) === 'ClusterRoleBinding' &&
          obj(o['roleRef'])['name'] === 'system:auth-delegator' &&
          arr(o['subjects']).some((s) => obj(s)['name'] === str(podSpec['serviceAccountName'])),
      );
      expect(delegator).toBeDefined();
      const secrets = arr(podSpec['volumes']).map((v) => obj(obj(v)['secret'])['secretName']);
      expect(secrets).not.toContain('sandbox-router-auth');
      expect(Object.keys(env).filter((k) => k.startsWith('ROUTER_AUTH_TOKEN'))).toEqual([]);
    });
  }
});
