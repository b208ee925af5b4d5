// DESIGN §1 with the real Python client (clients/python, in its venv: scripts/venv.sh): the
// quickstart in dev mode (kubectl port-forward svc/sandbox-router-svc, token from the Secret) and
// a SandboxClient in direct mode (api_url = the router Service, token from the environment), both
// over TLS, trusting the CA make up made for this cluster (dev mode reads it from the Secret
// sandbox-router-tls; direct mode gets $SANDBANK_CA_FILE).
// Each claims a sandbox on `with` entry and deletes the claim on exit. Then the client's own e2e
// tests (clients/python/tests/e2e, pytest in the same venv) against this cluster.
import { join } from 'node:path';
import { clusterBinary, repoRoot } from '../../src/cluster/paths.js';
import { run } from '../../src/cluster/process.js';
import type { Obj } from '@sandbank/testing';
import { POOL, POOL_NS, cluster, getJson, router, routerCaFile, since, waitPoolReady } from './helpers.js';
import type { Cluster, Router } from './helpers.js';

let c: Cluster;
let r: Router;
let python: string;

const DIRECT = `
import sys
from agentic_sandbox import SandboxClient
with SandboxClient(template_name=sys.argv[1], namespace=sys.argv[2], api_url=sys.argv[3]) as sb:
    print("claim", sb.claim_name)
    result = sb.run("cat /proc/version")
    print("exit", result.exit_code)
    print(result.stdout.strip())
`;

beforeAll(async () => {
  c = cluster();
  r = await router(c);
  const out = await run('bash', [join(repoRoot, 'clients', 'python', 'scripts', 'venv.sh')], {
    onStderrLine: (l) => process.stderr.write(`${l}\n`),
  });
  python = out.stdout.trim();
  await waitPoolReady(c);
}, 300_000);

const claimNames = async (): Promise<string[]> =>
  (await getJson<{ items: Obj[] }>(c, ['sandboxclaims', '-n', POOL_NS])).items.map((o) => o.metadata.name);

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  KUBECONFIG: c.kubeconfigPath,
  PATH: `${join(clusterBinary('kubectl'), '..')}:${process.env['PATH'] ?? ''}`,
  SANDBANK_CA_FILE: routerCaFile(c),
  ...extra,
});

test('examples/quickstart.py in dev mode (port-forward)', async () => {
  const before = await claimNames();
  const t0 = performance.now();
  const out = await run(
    python,
    [join(repoRoot, 'examples', 'quickstart.py'), '--namespace', POOL_NS, '--template', POOL],
    {
      env: env(),
      onStderrLine: (l) => process.stderr.write(`${l}\n`),
    },
  );
  process.stderr.write(`[e2e] quickstart.py (dev mode) in ${since(t0)} ms:\n${out.stdout}`);
  expect(out.stdout).toMatch(/^python: 3\.\d+/m);
  expect(out.stdout).toContain('hello from a gVisor sandbox');
  expect(out.stdout).toMatch(/^node: v2\d\./m);
  expect(await claimNames()).toEqual(before);
}, 180_000);

test('SandboxClient in direct mode (api_url = the router Service)', async () => {
  const before = await claimNames();
  const t0 = performance.now();
  const out = await run(python, ['-c', DIRECT, POOL, POOL_NS, r.url], {
    env: env({ SANDBANK_ROUTER_TOKEN: r.token }),
    onStderrLine: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(
    `[e2e] SandboxClient direct mode, whole with-block in ${since(t0)} ms:\n${out.stdout}`,
  );
  expect(out.stdout).toMatch(/^claim \S+/m);
  expect(out.stdout).toContain('exit 0');
  expect(out.stdout).toMatch(/gvisor|Linux version 4\.4\.0/);
  expect(await claimNames()).toEqual(before);
}, 180_000);

test("the Python client's e2e tests (clients/python/tests/e2e) pass on this cluster", async () => {
  const clientDir = join(repoRoot, 'clients', 'python');
  const t0 = performance.now();
  // pytest's report to stderr: streamed here, and its tail is in the error when a test fails
  await run(
    'bash',
    ['-c', 'cd "$0" && exec "$1" -m pytest -p no:cacheprovider -q tests/e2e 1>&2', clientDir, python],
    {
      env: env({ SANDBANK_E2E_KUBECONFIG: c.kubeconfigPath, SANDBANK_E2E_NAMESPACE: POOL_NS }),
      onStderrLine: (l) => process.stderr.write(`${l}\n`),
    },
  );
  process.stderr.write(`[e2e] clients/python/tests/e2e passed in ${since(t0)} ms\n`);
}, 600_000);
