// Issue #18 on the real cluster: upstream agent-sandbox's own clients, unchanged, against Sandbank
// as `make up` installs it, through the compatibility router in agent-sandbox-system
// (docs/agent-sandbox-compat.md): requests that arrive by `kubectl port-forward` on the router
// pod's loopback need no token, exactly as upstream's clients send none.
// - The Python SDK (k8s-agent-sandbox, pinned in clients/python/tests/upstream/requirements.txt, in
//   its own virtualenv: clients/python/scripts/upstream-venv.sh) with every default: the real
//   kubectl tunnels to sandbox-router-svc:8080 there, the sandbox runs under gVisor.
// - The same pytest module the kwok stack runs (clients/python/tests/upstream/test_sdk_1_0_8.py),
//   here in its cluster mode (SANDBANK_E2E_KUBECONFIG): its conftest copies the example template
//   with claims' env and volumes allowed, with a warm pool and a replicas: 0 one.
// - The Go client (e2e/upstream-go, built by e2e/cluster/build-upstream-go.sh) through its basic
//   flow. Its default mode port-forwards to a sandbox-router-svc in the claim's own namespace
//   (a per-namespace router, which `make up` does not install in the pool's namespace), so it is
//   given, as Options.APIURL, a real port-forward to the compatibility router's Service instead:
//   the same tunnel, opened by kubectl.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterBinary, repoRoot } from '../../src/cluster/paths.js';
import { portForward } from '../../src/cluster/kubectl.js';
import { run } from '../../src/cluster/process.js';
import type { Obj } from '@sandbank/testing';
import { POOL, POOL_NS, cluster, getJson, since, waitPoolReady, waitRollout } from './helpers.js';
import type { Cluster } from './helpers.js';

const COMPAT_NS = 'agent-sandbox-system';
const COMPAT_DEPLOYMENT = 'sandbox-router-deployment';
const clientDir = join(repoRoot, 'clients', 'python');

let c: Cluster;
let python: string;

/** A repository script's stdout (a path it prints), its progress on stderr streamed here. */
const script = async (path: string): Promise<string> =>
  (await run('bash', [path], { onStderrLine: (l) => process.stderr.write(`${l}\n`) })).stdout.trim();

beforeAll(async () => {
  c = cluster();
  python = await script(join(clientDir, 'scripts', 'upstream-venv.sh'));
  await waitRollout(c, COMPAT_DEPLOYMENT, COMPAT_NS);
  await waitPoolReady(c);
}, 600_000);

const claimNames = async (): Promise<string[]> =>
  (await getJson<{ items: Obj[] }>(c, ['sandboxclaims', '-n', POOL_NS])).items.map((o) => o.metadata.name);

/** A user's environment: this cluster's kubeconfig and kubectl, no Sandbank token anywhere. */
const userEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: c.kubeconfigPath,
    PATH: `${join(clusterBinary('kubectl'), '..')}:${process.env['PATH'] ?? ''}`,
    ...extra,
  };
  delete env['SANDBANK_ROUTER_TOKEN'];
  delete env['SANDBANK_CA_FILE'];
  return env;
};

// Upstream's README example, defaults only: SandboxClient() tunnels through the real kubectl.
const DEFAULTS = `
import sys
from k8s_agent_sandbox import SandboxClient
with SandboxClient() as client:
    sandbox = client.create_sandbox(sys.argv[1], namespace=sys.argv[2])
    print("claim", sandbox.claim_name)
    print("pod", sandbox.get_pod_name())
    result = sandbox.commands.run("cat /proc/version")
    print("exit", result.exit_code)
    print(result.stdout.strip())
`;

test("upstream's Python SDK with its defaults claims from the example pool; the sandbox runs gVisor", async () => {
  const before = await claimNames();
  const t0 = performance.now();
  const out = await run(python, ['-c', DEFAULTS, POOL, POOL_NS], {
    env: userEnv(),
    onStderrLine: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(`[e2e] upstream SDK, defaults, whole with-block in ${since(t0)} ms:\n${out.stdout}`);
  expect(out.stdout).toMatch(/^claim \S+/m);
  expect(out.stdout).toMatch(new RegExp(`^pod ${POOL}-\\S+$`, 'm'));
  expect(out.stdout).toContain('exit 0');
  // as 03-isolation: the runsc built from the gVisor module reports 4.19.0-gvisor, Debian's 4.4.0
  expect(out.stdout).toMatch(/^Linux version (4\.19\.0-gvisor|4\.4\.0)/m);
  // leaving the with-block deleted the claim it made
  expect(await claimNames()).toEqual(before);
}, 300_000);

test("upstream's SDK test module (clients/python/tests/upstream/test_sdk_1_0_8.py) passes on this cluster", async () => {
  const t0 = performance.now();
  // pytest's report to stderr: streamed here, and its tail is in the error when a test fails
  await run(
    'bash',
    [
      '-c',
      'cd "$0" && exec "$1" -m pytest -p no:cacheprovider -q tests/upstream/test_sdk_1_0_8.py 1>&2',
      clientDir,
      python,
    ],
    {
      env: userEnv({ SANDBANK_E2E_KUBECONFIG: c.kubeconfigPath, SANDBANK_E2E_NAMESPACE: POOL_NS }),
      onStderrLine: (l) => process.stderr.write(`${l}\n`),
    },
  );
  process.stderr.write(`[e2e] tests/upstream/test_sdk_1_0_8.py passed in ${since(t0)} ms\n`);
}, 900_000);

interface GoReport {
  steps: string[];
  failedStep?: string;
  error?: string;
  claim: string;
  sandbox: string;
  pod: string;
  stdout: string;
  exitCode: number;
  fileContent: string;
  exists: boolean;
  missingReportedAbsent: boolean;
  claimsAfterDelete?: string[];
}

test("upstream's Go client does its basic flow through a port-forward to the compatibility router", async () => {
  const binary = await script(join(repoRoot, 'e2e', 'cluster', 'build-upstream-go.sh'));
  const pf = await portForward(c.kubeconfigPath, COMPAT_NS, 'svc/sandbox-router-svc', 8080);
  const t0 = performance.now();
  let stdout: string;
  try {
    const args = ['-pool', POOL, '-namespace', POOL_NS, '-api-url', `http://127.0.0.1:${pf.localPort}`];
    const done = await promisify(execFile)(binary, [...args, '-timeout', '5m'], {
      env: userEnv(),
      timeout: 400_000,
    }).catch((err: unknown) => {
      // execFile's error carries the program's output: its JSON names the step that failed
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`upstream-go failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    });
    stdout = done.stdout;
  } finally {
    pf.close();
  }
  process.stderr.write(`[e2e] upstream Go client, basic flow in ${since(t0)} ms:\n${stdout}\n`);
  const report = JSON.parse(stdout) as GoReport;
  expect(report.steps).toEqual([
    'NewClient',
    'CreateSandbox',
    'Run',
    'Write',
    'Read',
    'List',
    'Exists',
    'ExistsMissing',
    'GetSandbox',
    'ListAllSandboxes',
    'DeleteSandbox',
    'ListAfterDelete',
  ]);
  // a warm member, claimed: the Sandbox is named like the claim, the Pod like the pool's member
  expect(report.sandbox).toBe(report.claim);
  expect(report.pod.startsWith(`${POOL}-`)).toBe(true);
  expect([report.stdout, report.exitCode]).toEqual(['hello-from-upstream-go\n', 0]);
  expect(report.fileContent).toBe("written by upstream's Go client");
  expect(report.exists && report.missingReportedAbsent).toBe(true);
  expect(report.claimsAfterDelete ?? []).not.toContain(report.claim);
}, 1_200_000);
