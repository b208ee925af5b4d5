/**
 * The package README's quickstart, run exactly as written: the fenced `ts` block under the marker
 * comment is saved as a module and run by tsx as its own process, importing `@sandbank/client` by
 * name, with only what a user sets in the environment: KUBECONFIG, the namespace, the router's URL
 * and token. kwok serves no port-forward, so the README's dev-mode default cannot run here; the
 * block takes SANDBANK_ROUTER_URL (direct mode) as the README tells a user to.
 */
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { integrationKubeConfig, repoRoot } from '@sandbank/e2e';
import { EXT } from '@sandbank/testing';
import { quickstartBlocks } from './readme-blocks.js';
import { UserProject } from './user-project.js';

const README = join(repoRoot, 'clients', 'ts', 'README.md');
/** The pool the quickstart names; here it takes the stack's template. */
const QUICKSTART_POOL = 'python-runtime';

let project: UserProject;
const kc = integrationKubeConfig();

beforeAll(async () => {
  project = new UserProject('sandbank-quickstart-');
  const stack = await project.start();
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...EXT,
    namespace: stack.namespace,
    plural: 'sandboxwarmpools',
    body: {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxWarmPool',
      metadata: { name: QUICKSTART_POOL },
      spec: { replicas: 1, sandboxTemplateRef: { name: stack.template } },
    },
  });
  // Resolves `@sandbank/client` as an installed package would be: by name, from node_modules.
  symlinkSync(join(repoRoot, 'node_modules'), join(project.dir, 'node_modules'), 'dir');
}, 240_000);

afterAll(async () => {
  await project?.close();
}, 60_000);

test('the README has one quickstart block, and it names the package', () => {
  const blocks = quickstartBlocks(readFileSync(README, 'utf8'));
  expect(blocks).toHaveLength(1);
  expect(blocks[0]).toContain("from '@sandbank/client'");
});

test('the quickstart runs as written: a command, a file written and read back, a port URL; the claim is gone after', async () => {
  const [source] = quickstartBlocks(readFileSync(README, 'utf8'));
  const script = join(project.dir, 'quickstart.mts');
  writeFileSync(script, source ?? '');

  const { stack } = project;
  const stdout = await project.node(['--import', 'tsx', '--conditions=source', script], {
    SANDBANK_NAMESPACE: stack.namespace,
    SANDBANK_ROUTER_URL: stack.routerUrl,
  });

  const lines = stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^0 hello from \S+$/);
  expect(lines).toContain('answer: 42');
  expect(stdout).toMatch(/files: \[[^\]]*'answer\.py'/);
  expect(lines).toContain('read back: print(6 * 7)');
  expect(stdout).toMatch(
    new RegExp(
      `port 8000: ${stack.routerUrl}/v1/namespaces/${stack.namespace}/sandboxclaims/sandbox-claim-[0-9a-f]{8}/ports/8000/`,
    ),
  );
  // The end of the module disposed the handle: no claim is left in the namespace.
  const claims = await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    ...EXT,
    namespace: stack.namespace,
    plural: 'sandboxclaims',
  });
  const live = (claims as { items: { metadata?: { deletionTimestamp?: string } }[] }).items.filter(
    (claim) => claim.metadata?.deletionTimestamp === undefined,
  );
  expect(live).toEqual([]);
}, 180_000);
