/**
 * The ClusterRoles for people, as the base renders them, applied for real and asked through
 * SubjectAccessReviews: sandbank-user may manage claims and exec into them; sandbank-viewer and the
 * built-in `view` may read but never exec (the router asks `create sandboxclaims/exec`); `edit` and
 * `admin` include sandbank-user through aggregation (kube-controller-manager's aggregation
 * controller fills them in). Bindings are namespaced: nothing reaches another namespace.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { kindOf, nameOf, render } from '../render.js';
import { kubectlOk } from '../kubectl.js';

const NS = `roles-team-${Date.now().toString(36)}`;
const OTHER_NS = `${NS}-other`;
const EXT = 'extensions.agents.x-k8s.io';
const CORE = 'agents.x-k8s.io';
const ROLES = ['sandbank-user', 'sandbank-viewer'];

/** One user per role, bound in NS only. */
const BOUND = {
  'u-user': 'sandbank-user',
  'u-viewer': 'sandbank-viewer',
  'u-view': 'view',
  'u-edit': 'edit',
  'u-admin': 'admin',
} as const;
type Who = keyof typeof BOUND | 'u-nobody';

interface Ask {
  readonly verb: string;
  readonly resource: string;
  readonly group?: string;
  readonly subresource?: string;
  readonly namespace?: string;
}

const Review = z.object({ status: z.object({ allowed: z.boolean() }) });

function allowed(user: Who, ask: Ask): boolean {
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user,
      groups: ['system:authenticated'],
      resourceAttributes: { group: ask.group ?? '', namespace: NS, name: 'claim-1', ...ask },
    },
  };
  return Review.parse(JSON.parse(kubectlOk(['create', '-o', 'json', '-f', '-'], stringify(review)))).status
    .allowed;
}

const EXEC: Ask = { verb: 'create', group: EXT, resource: 'sandboxclaims', subresource: 'exec' };

beforeAll(async () => {
  const roles = render('manifests/base').filter(
    (o) => kindOf(o) === 'ClusterRole' && ROLES.includes(nameOf(o)),
  );
  expect(roles.map(nameOf).sort()).toEqual(ROLES);
  kubectlOk(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    roles.map((o) => stringify(o)).join('---\n'),
  );
  kubectlOk(['create', 'namespace', NS]);
  kubectlOk(['create', 'namespace', OTHER_NS]);
  for (const [user, role] of Object.entries(BOUND)) {
    kubectlOk(['create', 'rolebinding', user, `--clusterrole=${role}`, `--user=${user}`, '-n', NS]);
  }
  // The bindings must reach the RBAC authorizer, and the aggregation controller must have copied
  // the rules into edit and admin, before a denial means anything.
  const ready = (): boolean =>
    allowed('u-user', EXEC) &&
    allowed('u-edit', EXEC) &&
    allowed('u-admin', EXEC) &&
    allowed('u-view', { verb: 'get', group: EXT, resource: 'sandboxclaims' }) &&
    allowed('u-viewer', { verb: 'get', group: EXT, resource: 'sandboxclaims' });
  for (let i = 0; !ready(); i++) {
    if (i >= 200) throw new Error('role bindings and aggregation not effective after 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(() => {
  kubectlOk(['delete', 'namespace', NS, OTHER_NS, '--wait=false']);
});

const READ_CLAIMS: Ask = { verb: 'get', group: EXT, resource: 'sandboxclaims' };
const READ: Ask[] = [
  ...['get', 'list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxclaims' })),
  ...['get', 'list', 'watch'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes' })),
  { verb: 'get', group: EXT, resource: 'sandboxtemplates' },
  { verb: 'list', group: EXT, resource: 'sandboxwarmpools' },
];
const MANAGE: Ask[] = ['create', 'update', 'patch', 'delete', 'deletecollection'].map((verb) => ({
  verb,
  group: EXT,
  resource: 'sandboxclaims',
}));
/** What no Sandbank role grants. */
const NEVER_FROM_SANDBANK: Ask[] = [
  { verb: 'create', group: EXT, resource: 'sandboxtemplates' },
  { verb: 'update', group: EXT, resource: 'sandboxwarmpools' },
  { verb: 'create', group: CORE, resource: 'sandboxes' },
  { verb: 'patch', group: EXT, resource: 'sandboxclaims', subresource: 'status' },
  { verb: 'get', resource: 'secrets' },
  { verb: 'create', resource: 'pods', subresource: 'exec' },
  { ...EXEC, namespace: OTHER_NS },
];

const label = (a: Ask): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.namespace === OTHER_NS ? ' in another namespace' : ''}`;

describe.each([
  ['sandbank-user', 'u-user', [EXEC, ...READ, ...MANAGE], NEVER_FROM_SANDBANK],
  ['sandbank-viewer', 'u-viewer', READ, [EXEC, ...MANAGE, ...NEVER_FROM_SANDBANK]],
  ['view (aggregated)', 'u-view', READ, [EXEC, ...MANAGE, { ...READ_CLAIMS, namespace: OTHER_NS }]],
  ['edit (aggregated)', 'u-edit', [EXEC, ...READ, ...MANAGE], [{ ...EXEC, namespace: OTHER_NS }]],
  ['admin (aggregated)', 'u-admin', [EXEC, ...READ, ...MANAGE], [{ ...EXEC, namespace: OTHER_NS }]],
  ['no binding', 'u-nobody', [], [EXEC, ...READ]],
] as const)('%s', (_name, user, allow, deny) => {
  const cases = (asks: readonly Ask[]) => asks.map((a) => [label(a), a] as const);
  if (allow.length > 0)
    it.each(cases(allow))('may %s', (_l, ask) => {
      expect(allowed(user, ask)).toBe(true);
    });
  it.each(cases(deny))('may not %s', (_l, ask) => {
    expect(allowed(user, ask)).toBe(false);
  });
});
