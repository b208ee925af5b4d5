/**
 * The controller's, conversion webhook's and router's RBAC, applied for real, asked through SubjectAccessReviews as
 * their ServiceAccounts (what `kubectl auth can-i --as` asks): every verb they use is allowed,
 * and Secrets (but the controller's agent key), exec, nodes, RBAC escalation and writes they never
 * make are denied.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { kindOf, render } from '../render.js';
import { kubectlOk } from '../kubectl.js';

const SYSTEM = 'sandbank-system';
const USER_NS = `rbac-team-${Date.now().toString(36)}`;
const CONTROLLER = `system:serviceaccount:${SYSTEM}:sandbank-controller`;
const ROUTER = `system:serviceaccount:${SYSTEM}:sandbox-router`;
const WEBHOOK = `system:serviceaccount:${SYSTEM}:sandbank-webhook`;
const NS_ROUTER = `system:serviceaccount:${USER_NS}:sandbox-router`;

const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

interface Ask {
  readonly verb: string;
  readonly resource: string;
  readonly group?: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

const Review = z.object({ status: z.object({ allowed: z.boolean() }) });

function allowed(user: string, ask: Ask): boolean {
  const namespace = user.split(':')[2] ?? '';
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      resourceAttributes: { group: ask.group ?? '', ...ask },
    },
  };
  return Review.parse(JSON.parse(kubectlOk(['create', '-o', 'json', '-f', '-'], stringify(review)))).status
    .allowed;
}

function label(ask: Ask): string {
  const res = `${ask.resource}${ask.subresource ? `/${ask.subresource}` : ''}${ask.group ? `.${ask.group}` : ''}`;
  return `${ask.verb} ${res}${ask.name ? `/${ask.name}` : ''} in ${ask.namespace ?? '(cluster)'}`;
}

const EXT = 'extensions.agents.x-k8s.io';
const CORE = 'agents.x-k8s.io';

beforeAll(async () => {
  const base = render('manifests/base').filter((o) => RBAC_KINDS.has(kindOf(o)));
  kubectlOk(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    base.map((o) => stringify(o)).join('---\n'),
  );
  kubectlOk(['create', 'namespace', USER_NS]);
  const nsRouter = render('manifests/namespace-router').filter((o) => RBAC_KINDS.has(kindOf(o)));
  kubectlOk(
    ['apply', '--server-side', '-n', USER_NS, '-f', '-'],
    nsRouter.map((o) => stringify(o)).join('---\n'),
  );
  // The bindings must have reached the RBAC authorizer's informer before the denials mean anything.
  const ready = (): boolean =>
    allowed(CONTROLLER, {
      verb: 'create',
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: SYSTEM,
    }) &&
    allowed(ROUTER, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }) &&
    allowed(NS_ROUTER, { verb: 'list', resource: 'pods', namespace: USER_NS });
  for (let i = 0; !ready(); i++) {
    if (i >= 100) throw new Error('RBAC bindings not effective after 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(() => {
  kubectlOk(['delete', 'namespace', USER_NS, '--wait=false']);
});

const controllerAllowed: Ask[] = [
  ...['list', 'watch', 'delete'].map((verb) => ({
    verb,
    group: EXT,
    resource: 'sandboxclaims',
    namespace: 'team-x',
  })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxtemplates' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxwarmpools' })),
  { verb: 'patch', group: EXT, resource: 'sandboxclaims', subresource: 'status', namespace: 'team-x' },
  { verb: 'patch', group: EXT, resource: 'sandboxwarmpools', subresource: 'status', namespace: 'team-x' },
  {
    verb: 'update',
    group: EXT,
    resource: 'sandboxtemplates',
    subresource: 'finalizers',
    namespace: 'team-x',
  },
  ...['list', 'watch', 'create', 'delete'].map((verb) => ({
    verb,
    group: CORE,
    resource: 'sandboxes',
    namespace: 'team-x',
  })),
  { verb: 'patch', group: CORE, resource: 'sandboxes', subresource: 'status', namespace: 'team-x' },
  { verb: 'update', group: CORE, resource: 'sandboxes', subresource: 'finalizers', namespace: 'team-x' },
  ...['get', 'list', 'watch', 'create', 'update', 'delete'].map((verb) => ({
    verb,
    resource: 'pods',
    namespace: 'team-x',
  })),
  ...['list', 'watch', 'create', 'delete'].map((verb) => ({
    verb,
    resource: 'services',
    namespace: 'team-x',
  })),
  ...['list', 'watch', 'create', 'patch'].map((verb) => ({
    verb,
    resource: 'persistentvolumeclaims',
    namespace: 'team-x',
  })),
  ...['list', 'watch', 'create', 'patch', 'delete'].map((verb) => ({
    verb,
    group: 'networking.k8s.io',
    resource: 'networkpolicies',
    namespace: 'team-x',
  })),
  ...['create', 'patch'].map((verb) => ({
    verb,
    group: 'events.k8s.io',
    resource: 'events',
    namespace: 'team-x',
  })),
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: SYSTEM },
  ...['get', 'update'].map((verb) => ({
    verb,
    group: 'coordination.k8s.io',
    resource: 'leases',
    namespace: SYSTEM,
    name: 'sandbank-controller',
  })),
  // The agent key: read at start, created when missing (controller/src/agent-credentials.ts).
  { verb: 'create', resource: 'secrets', namespace: SYSTEM },
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-agent-key' },
  // The storage migration: reads Sandbank's CRDs, then sets storedVersions.
  {
    verb: 'get',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: `sandboxclaims.${EXT}`,
  },
  {
    verb: 'patch',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    subresource: 'status',
    name: `sandboxes.${CORE}`,
  },
];

const controllerDenied: Ask[] = [
  ...['get', 'list', 'watch', 'create'].map((verb) => ({ verb, resource: 'secrets' })),
  { verb: 'get', resource: 'secrets', namespace: SYSTEM },
  ...['list', 'watch'].map((verb) => ({ verb, resource: 'secrets', namespace: SYSTEM })),
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbox-router-auth' },
  ...['update', 'patch', 'delete'].map((verb) => ({
    verb,
    resource: 'secrets',
    namespace: SYSTEM,
    name: 'sandbank-agent-key',
  })),
  ...['get', 'create'].map((verb) => ({ verb, resource: 'secrets', namespace: 'team-x' })),
  { verb: 'list', resource: 'configmaps' },
  { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'team-x' },
  { verb: 'get', resource: 'pods', subresource: 'exec', namespace: 'team-x' },
  { verb: 'create', resource: 'pods', subresource: 'eviction', namespace: 'team-x' },
  { verb: 'patch', resource: 'pods', namespace: 'team-x' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'patch', resource: 'nodes' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'team-x' },
  { verb: 'create', group: 'apps', resource: 'deployments', namespace: 'team-x' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'team-x' },
  { verb: 'impersonate', resource: 'serviceaccounts' },
  { verb: 'update', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  ...['patch', 'delete'].map((verb) => ({
    verb,
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: 'widgets.example.com',
  })),
  {
    verb: 'delete',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: `sandboxes.${CORE}`,
  },
  { verb: 'delete', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-webhook-tls' },
  // The conversion webhook is its own Deployment: its certificate and the CRDs' conversion
  // stanza are not the controller's.
  ...['get', 'update'].map((verb) => ({
    verb,
    resource: 'secrets',
    namespace: SYSTEM,
    name: 'sandbank-webhook-tls',
  })),
  {
    verb: 'patch',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: `sandboxclaims.${EXT}`,
  },
  // The storedVersions migration rewrites objects through their status subresource only
  // (controller/src/storage-migration.ts); SandboxTemplates, without one, are the operator's.
  ...['update', 'patch'].map((verb) => ({
    verb,
    group: EXT,
    resource: 'sandboxtemplates',
    namespace: 'team-x',
  })),
  ...['sandboxclaims', 'sandboxwarmpools'].map((resource) => ({
    verb: 'update',
    group: EXT,
    resource,
    namespace: 'team-x',
  })),
  { verb: 'update', group: CORE, resource: 'sandboxes', namespace: 'team-x' },
  ...['sandboxes', 'sandboxclaims', 'sandboxwarmpools'].map((resource) => ({
    verb: 'update',
    group: resource === 'sandboxes' ? CORE : EXT,
    resource,
    subresource: 'status',
    namespace: 'team-x',
  })),
  { verb: 'create', group: EXT, resource: 'sandboxclaims', namespace: 'team-x' },
  {
    verb: 'delete',
    group: 'coordination.k8s.io',
    resource: 'leases',
    namespace: SYSTEM,
    name: 'sandbank-controller',
  },
  {
    verb: 'update',
    group: 'coordination.k8s.io',
    resource: 'leases',
    namespace: 'kube-system',
    name: 'kube-scheduler',
  },
  { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: SYSTEM, name: 'other' },
];

const routerAllowed: Ask[] = [
  ...['list', 'watch'].map((verb) => ({ verb, resource: 'pods', namespace: 'team-x' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxclaims' })),
  { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
  { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' },
];

const routerDenied: Ask[] = [
  ...['get', 'list', 'watch'].map((verb) => ({ verb, resource: 'secrets' })),
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbox-router-auth' },
  // The router gets the agent key and the preview-link keys as mounted volumes, never through the API.
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-agent-key' },
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-preview-keys' },
  ...['create', 'update', 'patch', 'delete'].map((verb) => ({ verb, resource: 'pods', namespace: 'team-x' })),
  { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'team-x' },
  { verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'team-x' },
  { verb: 'delete', group: EXT, resource: 'sandboxclaims', namespace: 'team-x' },
  { verb: 'patch', group: CORE, resource: 'sandboxes', subresource: 'status', namespace: 'team-x' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'team-x' },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'impersonate', resource: 'users' },
];

// The conversion webhook (controller/src/webhook/main.ts): its certificate Secret and the
// conversion stanza of Sandbank's four CRDs, nothing else.
const webhookAllowed: Ask[] = [
  { verb: 'create', resource: 'secrets', namespace: SYSTEM },
  ...['get', 'update'].map((verb) => ({
    verb,
    resource: 'secrets',
    namespace: SYSTEM,
    name: 'sandbank-webhook-tls',
  })),
  ...[
    `sandboxes.${CORE}`,
    `sandboxclaims.${EXT}`,
    `sandboxtemplates.${EXT}`,
    `sandboxwarmpools.${EXT}`,
  ].flatMap((name) =>
    ['get', 'patch'].map((verb) => ({
      verb,
      group: 'apiextensions.k8s.io',
      resource: 'customresourcedefinitions',
      name,
    })),
  ),
];

const webhookDenied: Ask[] = [
  ...['get', 'list', 'watch'].map((verb) => ({ verb, resource: 'secrets', namespace: SYSTEM })),
  { verb: 'get', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-agent-key' },
  { verb: 'delete', resource: 'secrets', namespace: SYSTEM, name: 'sandbank-webhook-tls' },
  { verb: 'get', resource: 'secrets', namespace: 'team-x' },
  {
    verb: 'patch',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    subresource: 'status',
    name: `sandboxes.${CORE}`,
  },
  ...['patch', 'delete'].map((verb) => ({
    verb,
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: 'widgets.example.com',
  })),
  {
    verb: 'delete',
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    name: `sandboxes.${CORE}`,
  },
  { verb: 'list', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  ...['list', 'get'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes', namespace: 'team-x' })),
  { verb: 'list', resource: 'pods', namespace: 'team-x' },
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: SYSTEM },
];

const nsRouterAllowed: Ask[] = [
  ...['list', 'watch'].map((verb) => ({ verb, resource: 'pods', namespace: USER_NS })),
  ...['list', 'watch'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes', namespace: USER_NS })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxclaims', namespace: USER_NS })),
];

const nsRouterDenied: Ask[] = [
  { verb: 'list', resource: 'pods' },
  { verb: 'list', resource: 'pods', namespace: 'team-x' },
  { verb: 'list', group: EXT, resource: 'sandboxclaims', namespace: 'team-x' },
  { verb: 'get', resource: 'secrets', namespace: USER_NS },
  { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
  { verb: 'create', resource: 'pods', namespace: USER_NS },
];

describe.each([
  ['controller', CONTROLLER, controllerAllowed, controllerDenied],
  ['router', ROUTER, routerAllowed, routerDenied],
  ['conversion webhook', WEBHOOK, webhookAllowed, webhookDenied],
  ['namespace router', NS_ROUTER, nsRouterAllowed, nsRouterDenied],
] as const)('%s', (_name, user, allow, deny) => {
  it.each(allow.map((a) => [label(a), a] as const))('may %s', (_l, ask) => {
    expect(allowed(user, ask)).toBe(true);
  });

  it.each(deny.map((a) => [label(a), a] as const))('may not %s', (_l, ask) => {
    expect(allowed(user, ask)).toBe(false);
  });
});
