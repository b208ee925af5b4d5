/**
 * The sandbox profile's admission policy (manifests/base/admission) on the real kube-apiserver:
 * one case per rule refused with a message naming the field, the very message the controller's
 * own check gives for it (so a cluster without the policy refuses alike); the compliant example
 * template admitted; Sandboxes and Sandbank's Pods judged too, other Pods not; a namespace
 * relaxed by its labels admitting what they allow and nothing more; the parameter ConfigMap as
 * the one source of the lists; and who may relax (not a namespace admin).
 *
 * The policy is applied as shipped. Its binding is the shipped one narrowed to the namespaces
 * this file creates (a label with this run's id) and pointed at a ConfigMap in one of them, so
 * the other suites sharing this API server never meet it.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  EXTENSIONS_API_VERSION,
  ProfileLabels,
  SandboxTemplate,
  SandboxWarmPool,
  convertObject,
  storedSchema,
} from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  CORE_GROUP,
  EXT,
  POD_CASES,
  TEMPLATE_CASES,
  compliantPodSpec,
  compliantSandboxPodSpec,
  type PodTemplateCase,
} from '@sandbank/testing';
import { withSecureDefaults } from '../../../controller/src/reconcilers/shared/pure-pods.js';
import { planPool } from '../../../controller/src/reconcilers/sandbox-warm-pool/plan.js';
import {
  DEFAULT_PROFILE_SETTINGS,
  POD_PATHS,
  describeViolations,
  profileViolations,
  sandboxProfile,
  type ProfileSettings,
  type SandboxProfile,
} from '../../../controller/src/reconcilers/shared/pure-profile.js';
import { kubectl, kubectlOk } from '../kubectl.js';
import { kindOf, nameOf, obj, render, type Obj } from '../render.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

const RUN = `${process.pid}-${Date.now().toString(36)}`;
const SELECT_KEY = 'sandbank.dev/profile-policy-test';
const STRICT = `profile-vap-${RUN}`;
const RELAXED = `profile-vap-relaxed-${RUN}`;
const LATE = `profile-vap-late-${RUN}`;
const BINDING = `sandbank-sandbox-profile-test-${RUN}`;
const POLICY = 'sandbank-sandbox-profile';
const PARAMS = 'sandbank-sandbox-profile';
/** What the relaxed namespace's labels allow. */
const RELAXATIONS: Record<string, string> = {
  [ProfileLabels.allowRoot]: 'true',
  [ProfileLabels.allowServiceAccountToken]: 'true',
  [ProfileLabels.allowHostNetwork]: 'true',
  [`${ProfileLabels.allowRuntimeClassPrefix}kata`]: 'true',
  [`${ProfileLabels.allowCapabilityPrefix}SYS_PTRACE`]: 'true',
};

const Status = z.object({ message: z.string() });

/**
 * Runs an API call (dry-run on the server: admission runs in full, nothing is stored) and
 * returns the policy's denial message, or undefined when admitted. Any other failure throws.
 */
async function denial(call: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await call();
    return undefined;
  } catch (error) {
    const body = (error as { body?: unknown }).body;
    const message = Status.parse(typeof body === 'string' ? JSON.parse(body) : body).message;
    const denied = new RegExp(
      `ValidatingAdmissionPolicy '${POLICY}' with binding '[^']+' denied request: (.*)$`,
      's',
    ).exec(message);
    if (!denied?.[1]) throw new Error(`not the sandbox profile's denial: ${message}`, { cause: error });
    return denied[1];
  }
}

function templateBody(name: string, podTemplate: PodTemplateCase['podTemplate']): Record<string, unknown> {
  return {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxTemplate',
    metadata: { name },
    spec: { podTemplate },
  };
}

const createTemplate = (namespace: string, body: Record<string, unknown>, dryRun = true) =>
  denial(() =>
    custom.createNamespacedCustomObject({
      ...EXT,
      namespace,
      plural: 'sandboxtemplates',
      body,
      ...(dryRun ? { dryRun: 'All' } : {}),
    }),
  );

const tryTemplate = (namespace: string, podTemplate: PodTemplateCase['podTemplate']) =>
  createTemplate(namespace, templateBody('t', podTemplate));

/** What the controller's own check says about the same pod template. */
function controllerSays(podTemplate: PodTemplateCase['podTemplate'], profile: SandboxProfile): string {
  const spec = { containers: [], ...podTemplate.spec } as Parameters<typeof withSecureDefaults>[0];
  return describeViolations(
    profileViolations(
      { ...podTemplate, spec: withSecureDefaults(spec, profile.runtimeClasses[0] ?? '') },
      profile,
    ),
  );
}

/** A Pod as the controller labels it (so the policy judges it). */
function sandbankPod(name: string, spec: Record<string, unknown>, labels = true): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(labels ? { labels: { 'agents.x-k8s.io/sandbox-name-hash': 'abc123' } } : {}) },
    spec,
  };
}

const tryPod = (namespace: string, body: Record<string, unknown>) =>
  denial(() => core.createNamespacedPod({ namespace, body, dryRun: 'All' }));

function setParams(data: Record<string, string>): void {
  kubectlOk(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PARAMS, namespace: STRICT }, data }),
  );
}

/** Polls (bounded) until `check` returns undefined; its last complaint is the failure. */
async function eventually(
  what: string,
  check: () => Promise<string | undefined>,
  timeoutMs = 45_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await check();
    if (problem === undefined) return;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms: ${problem}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const privileged = TEMPLATE_CASES.find((c) => c.rule === 'privileged');
if (!privileged) throw new Error('no privileged case');

beforeAll(async () => {
  const base = render('manifests/base');
  const pick = (kind: string, name: string): Obj => {
    const found = base.find((o) => kindOf(o) === kind && nameOf(o) === name);
    if (!found) throw new Error(`manifests/base has no ${kind}/${name}`);
    return found;
  };
  const policy = pick('ValidatingAdmissionPolicy', POLICY);
  const shipped = pick('ValidatingAdmissionPolicyBinding', POLICY);
  const shippedSpec = obj(shipped['spec']);
  const binding = {
    apiVersion: shipped['apiVersion'],
    kind: shipped['kind'],
    metadata: { name: BINDING },
    spec: {
      ...shippedSpec,
      paramRef: { ...obj(shippedSpec['paramRef']), namespace: STRICT },
      matchResources: { namespaceSelector: { matchLabels: { [SELECT_KEY]: RUN } } },
    },
  };
  const params = pick('ConfigMap', PARAMS);

  for (const [name, labels] of [
    // A label with a value other than "true" relaxes nothing.
    [STRICT, { [SELECT_KEY]: RUN, [ProfileLabels.allowRoot]: 'yes' }],
    [RELAXED, { [SELECT_KEY]: RUN, ...RELAXATIONS }],
    [LATE, {}],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  }
  kubectlOk(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    [
      { ...params, metadata: { ...obj(params['metadata']), namespace: STRICT } },
      { ...policy, metadata: { name: POLICY } },
      binding,
    ]
      .map((o) => stringify(o))
      .join('---\n'),
  );
  // The policy, the binding and the parameters must reach the API server's admission informers.
  await eventually('the policy admits a compliant template and refuses a privileged one', async () => {
    const compliant = await tryTemplate(STRICT, { spec: compliantPodSpec() });
    if (compliant !== undefined) return `compliant refused: ${compliant}`;
    return (await tryTemplate(STRICT, privileged.podTemplate)) ? undefined : 'privileged admitted';
  });
}, 120_000);

// The binding stays: it matches only this run's namespaces, deleted here. Deleting the last
// binding that uses ConfigMap parameters stops the API server's ConfigMap parameter informer
// for good (kubernetes/kubernetes#133827, docs/sandbox-profile.md), which would break the policy
// for a later run against a reused API server.
afterAll(async () => {
  for (const name of [STRICT, RELAXED, LATE]) await core.deleteNamespace({ name }).catch(() => undefined);
}, 60_000);

describe('a SandboxTemplate', () => {
  it('is admitted when it is the compliant minimum, or the example template', async () => {
    expect(await tryTemplate(STRICT, { spec: compliantPodSpec() })).toBeUndefined();
    const example = render('examples/python-runtime').find((o) => kindOf(o) === 'SandboxTemplate');
    if (!example) throw new Error('examples/python-runtime has no SandboxTemplate');
    expect(await createTemplate(STRICT, example)).toBeUndefined();
  });

  it.each(TEMPLATE_CASES.map((c) => [c.rule, c]))(
    'is refused for %s, naming the field, as the controller says',
    async (_rule, c) => {
      const said = await tryTemplate(STRICT, c.podTemplate);
      expect(said).toBe(c.violation);
      expect(said).toBe(controllerSays(c.podTemplate, sandboxProfile(DEFAULT_PROFILE_SETTINGS, {})));
    },
  );

  it('is refused with every violation listed, in the controller’s order', async () => {
    const all = {
      spec: Object.assign({}, ...TEMPLATE_CASES.map((c) => c.podTemplate.spec)) as Record<string, unknown>,
    };
    const said = await tryTemplate(STRICT, all);
    expect(said?.split('; ').length).toBeGreaterThan(5);
    expect(said).toBe(controllerSays(all, sandboxProfile(DEFAULT_PROFILE_SETTINGS, {})));
  });
});

describe('a Sandbox made directly', () => {
  const sandbox = (podTemplate: PodTemplateCase['podTemplate']) =>
    denial(() =>
      custom.createNamespacedCustomObject({
        ...CORE_GROUP,
        namespace: STRICT,
        plural: 'sandboxes',
        dryRun: 'All',
        body: {
          apiVersion: `${CORE_GROUP.group}/${CORE_GROUP.version}`,
          kind: 'Sandbox',
          metadata: { name: 's' },
          spec: { podTemplate },
        },
      }),
    );

  it('is judged like a template', async () => {
    expect(await sandbox({ spec: compliantPodSpec() })).toBeUndefined();
    expect(await sandbox(privileged.podTemplate)).toBe(privileged.violation);
  });
});

describe("Sandbank's Pods", () => {
  beforeAll(async () => {
    // The ServiceAccount admission plugin refuses pods until the namespace's default exists.
    await eventually('the default ServiceAccount', async () =>
      (await core.readNamespacedServiceAccount({ name: 'default', namespace: STRICT }).catch(() => undefined))
        ? undefined
        : 'absent',
    );
  });

  it('are admitted as the controller makes them', async () => {
    expect(await tryPod(STRICT, sandbankPod('ok', compliantSandboxPodSpec()))).toBeUndefined();
  });

  it('admit the very pod the controller plans for the example template', async () => {
    const example = render('examples/python-runtime').find((o) => kindOf(o) === 'SandboxTemplate');
    const identity = (name: string) => ({
      name,
      namespace: STRICT,
      uid: `${name}-uid`,
      resourceVersion: '1',
    });
    // The example is v1alpha1; the controller reads it as the API server stores it, v1beta1.
    const stored = convertObject(
      { ...example, metadata: identity('python-runtime') },
      EXTENSIONS_API_VERSION,
    );
    if (!stored.ok) throw new Error(stored.message);
    const template = storedSchema(SandboxTemplate, true).parse(stored.object);
    const pool = storedSchema(SandboxWarmPool, true).parse({
      metadata: identity('warm'),
      spec: { replicas: 1, sandboxTemplateRef: { name: 'python-runtime' } },
    });
    const plan = planPool({
      pool,
      template,
      members: [],
      missingClaims: new Map(),
      expectationsSatisfied: true,
      expectationsExpireInMs: 0,
      profile: sandboxProfile(DEFAULT_PROFILE_SETTINGS, {}),
    });
    const create = plan.actions.find((a) => a.type === 'create-pods');
    if (create?.type !== 'create-pods') throw new Error(`no pod planned: ${JSON.stringify(plan.actions)}`);
    expect(await tryPod(STRICT, create.pod)).toBeUndefined();
  });

  it.each(POD_CASES.map((c) => [c.rule, c]))(
    'are refused for %s (nothing is left to defaults on a Pod)',
    async (_rule, c) => {
      const said = await tryPod(STRICT, sandbankPod('p', c.spec));
      expect(said).toBe([c.violation, ...(c.addedOnServer ? [c.addedOnServer] : [])].join('; '));
      // The controller, on the pod as sent (before the server's own admission added anything).
      expect(
        describeViolations(
          profileViolations(
            { spec: c.spec } as never,
            sandboxProfile(DEFAULT_PROFILE_SETTINGS, {}),
            POD_PATHS,
          ),
        ),
      ).toBe(c.violation);
    },
  );

  it('cannot be given a privileged ephemeral container', async () => {
    const name = 'ephemeral-target';
    await core.createNamespacedPod({ namespace: STRICT, body: sandbankPod(name, compliantSandboxPodSpec()) });
    const debug = { name: 'debug', image: 'busybox:1.37', securityContext: { privileged: true } };
    const r = kubectl([
      'patch',
      'pod',
      name,
      '-n',
      STRICT,
      '--subresource=ephemeralcontainers',
      '--type=json',
      `-p=${JSON.stringify([{ op: 'add', path: '/spec/ephemeralContainers', value: [debug] }])}`,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'spec.ephemeralContainers[0].securityContext.privileged: privileged containers are not allowed',
    );
  });

  it('are the only pods judged: a pod without their labels is Pod Security admission’s business', async () => {
    const privilegedPod = sandbankPod(
      'other',
      { containers: [{ name: 'a', image: 'x', securityContext: { privileged: true } }] },
      false,
    );
    expect(await tryPod(STRICT, privilegedPod)).toBeUndefined();
  });
});

describe('a relaxed namespace', () => {
  const relaxed = sandboxProfile(DEFAULT_PROFILE_SETTINGS, RELAXATIONS);
  const caseOf = (rule: string): PodTemplateCase => {
    const c = TEMPLATE_CASES.find((x) => x.rule === rule);
    if (!c) throw new Error(`no case ${rule}`);
    return c;
  };

  it.each([
    'root (pod runAsNonRoot)',
    'root (container runAsNonRoot)',
    'root (pod runAsUser)',
    'root (container runAsUser)',
    'service account token',
    'service account token (projected)',
    'host network',
    'host ports',
  ])('admits what its labels allow: %s', async (rule) => {
    expect(await tryTemplate(RELAXED, caseOf(rule).podTemplate)).toBeUndefined();
    expect(controllerSays(caseOf(rule).podTemplate, relaxed)).toBe('');
  });

  it('admits the runtime class and the capability its labels name, and no other', async () => {
    expect(
      await tryTemplate(RELAXED, { spec: { ...compliantPodSpec(), runtimeClassName: 'kata' } }),
    ).toBeUndefined();
    const ptrace = {
      spec: {
        containers: [
          { name: 'agent', image: 'x', securityContext: { capabilities: { add: ['SYS_PTRACE'] } } },
        ],
      },
    };
    expect(await tryTemplate(RELAXED, ptrace)).toBeUndefined();
    expect(await tryTemplate(RELAXED, caseOf('runtime class').podTemplate)).toBe(
      'spec.podTemplate.spec.runtimeClassName: runtime class runc is not allowed (allowed: gvisor, kata)',
    );
    expect(await tryTemplate(RELAXED, caseOf('capabilities').podTemplate)).toBe(
      'spec.podTemplate.spec.containers[0].securityContext.capabilities.add: capability SYS_ADMIN is not allowed (allowed: SYS_PTRACE)',
    );
    for (const c of [caseOf('runtime class'), caseOf('capabilities')]) {
      expect(await tryTemplate(RELAXED, c.podTemplate)).toBe(controllerSays(c.podTemplate, relaxed));
    }
  });

  it('still refuses what no label relaxes', async () => {
    for (const rule of ['privileged', 'host PID', 'hostPath volume', 'capabilities (ALL, spelled CAP_)']) {
      const c = caseOf(rule);
      expect({ rule, said: await tryTemplate(RELAXED, c.podTemplate) }).toEqual({
        rule,
        said: controllerSays(c.podTemplate, relaxed),
      });
      expect(controllerSays(c.podTemplate, relaxed)).not.toBe('');
    }
  });

  it('cannot be made by a namespace admin: relaxing needs update on the Namespace itself', () => {
    kubectlOk([
      'create',
      'rolebinding',
      'tenant-admin',
      '--clusterrole=admin',
      '--user=tenant-admin',
      '-n',
      STRICT,
    ]);
    // `auth can-i` exits 1 when the answer is no.
    const can = (verb: string) =>
      kubectl(['auth', 'can-i', verb, `namespace/${STRICT}`, '--as=tenant-admin']).stdout.trim();
    for (const verb of ['patch', 'update']) expect({ verb, can: can(verb) }).toEqual({ verb, can: 'no' });
  });
});

describe('updates', () => {
  it('judge a spec change, not a metadata change of an object made before the policy applied', async () => {
    // Made while the namespace was outside the binding, as an object older than the policy is.
    expect(await createTemplate(LATE, templateBody('old', privileged.podTemplate), false)).toBeUndefined();
    await core.patchNamespace({
      name: LATE,
      body: [{ op: 'add', path: `/metadata/labels/${SELECT_KEY.replace('/', '~1')}`, value: RUN }],
    });
    const patch = (body: unknown[]) =>
      denial(() =>
        custom.patchNamespacedCustomObject({
          ...EXT,
          namespace: LATE,
          plural: 'sandboxtemplates',
          name: 'old',
          body,
        }),
      );
    // Each try changes the spec (a patch admitted before the label reached the policy would make
    // the same patch a no-op, which is not judged).
    let tries = 0;
    await eventually('a spec change refused in the newly selected namespace', async () => {
      const image = `busybox:1.37-${++tries}`;
      const said = await patch([
        { op: 'replace', path: '/spec/podTemplate/spec/containers/0/image', value: image },
      ]);
      return said ? undefined : 'admitted';
    });
    expect(await patch([{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }])).toBeUndefined();
  });
});

describe('the parameter ConfigMap', () => {
  it('is the one source of the lists: the policy follows it at once, and matches the controller', async () => {
    const settings: ProfileSettings = {
      runtimeClasses: ['gvisor', 'kata'],
      capabilities: ['NET_BIND_SERVICE'],
    };
    setParams({ SANDBOX_RUNTIME_CLASSES: 'gvisor, kata', SANDBOX_ALLOWED_CAPABILITIES: 'net_bind_service' });
    const bind = {
      spec: {
        containers: [
          { name: 'agent', image: 'x', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } },
        ],
      },
    };
    await eventually('NET_BIND_SERVICE admitted', async () => tryTemplate(STRICT, bind));
    expect(
      await tryTemplate(STRICT, { spec: { ...compliantPodSpec(), runtimeClassName: 'kata' } }),
    ).toBeUndefined();
    const admin = TEMPLATE_CASES.find((c) => c.rule === 'capabilities');
    if (!admin) throw new Error('no capabilities case');
    const said = await tryTemplate(STRICT, admin.podTemplate);
    expect(said).toMatch(/capability SYS_ADMIN is not allowed \(allowed: NET_BIND_SERVICE\)$/);
    expect(said).toBe(controllerSays(admin.podTemplate, sandboxProfile(settings, {})));
  });

  it('refuses everything when it is missing, rather than allowing everything', async () => {
    kubectlOk(['delete', 'configmap', PARAMS, '-n', STRICT]);
    await eventually('the compliant template refused without parameters', async () => {
      const said = await tryTemplate(STRICT, { spec: compliantPodSpec() }).catch((error: unknown) =>
        String(error),
      );
      return said?.includes('param') ? undefined : `said ${String(said)}`;
    });
  });
});
