/**
 * The sandbox profile as shipped: every install has the admission policy bound everywhere with
 * Deny, one ConfigMap feeds both the policy and the controller, the controller may only read
 * Namespaces (for their relaxation labels), and every SandboxTemplate we ship passes the profile.
 */
import { withSecureDefaults } from '../../../controller/src/reconcilers/shared/pure-pods.js';
import {
  DEFAULT_PROFILE_SETTINGS,
  describeViolations,
  profileViolations,
  sandboxProfile,
} from '../../../controller/src/reconcilers/shared/pure-profile.js';
import { OVERLAYS, arr, containersOf, kindOf, nameOf, obj, render, str, type Obj } from '../render.js';

const INSTALLS = [
  'manifests/base',
  'manifests/overlays/local',
  'manifests/overlays/gke-autopilot',
  'manifests/overlays/gke-standard',
];
const NAME = 'sandbank-sandbox-profile';

const rendered = new Map<string, Obj[]>(OVERLAYS.map((dir) => [dir, render(dir)]));
const objectsOf = (dir: string): Obj[] => rendered.get(dir) ?? render(dir);

function find(dir: string, kind: string, name: string): Obj {
  const o = objectsOf(dir).find((x) => kindOf(x) === kind && nameOf(x) === name);
  if (!o) throw new Error(`${dir}: no ${kind}/${name}`);
  return o;
}

describe.each(INSTALLS.map((d) => [d]))('%s', (dir) => {
  it('binds the policy in every namespace, denying, with its parameters from the one ConfigMap', () => {
    const policy = obj(find(dir, 'ValidatingAdmissionPolicy', NAME)['spec']);
    expect(policy['failurePolicy']).toBe('Fail');
    expect(policy['paramKind']).toEqual({ apiVersion: 'v1', kind: 'ConfigMap' });
    const binding = obj(find(dir, 'ValidatingAdmissionPolicyBinding', NAME)['spec']);
    expect(binding).toEqual({
      policyName: NAME,
      validationActions: ['Deny'],
      paramRef: { name: NAME, namespace: 'sandbank-system', parameterNotFoundAction: 'Deny' },
    });
    const params = find(dir, 'ConfigMap', NAME);
    expect(obj(params['metadata'])['namespace']).toBe('sandbank-system');
    expect(Object.keys(obj(params['data'])).sort()).toEqual([
      'SANDBOX_ALLOWED_CAPABILITIES',
      'SANDBOX_RUNTIME_CLASSES',
    ]);
  });

  it('gives the controller the same lists, from that ConfigMap', () => {
    const deployment = find(dir, 'Deployment', 'sandbank-controller');
    const [controller] = containersOf(obj(obj(obj(deployment['spec'])['template'])['spec']));
    const env = arr(obj(controller)['env']).map(obj);
    for (const variable of ['SANDBOX_RUNTIME_CLASSES', 'SANDBOX_ALLOWED_CAPABILITIES']) {
      const entry = env.find((e) => e['name'] === variable);
      expect({ variable, from: obj(obj(entry?.['valueFrom'])['configMapKeyRef']) }).toEqual({
        variable,
        from: { name: NAME, key: variable, optional: true },
      });
    }
  });

  it('lets the controller read Namespaces and nothing more about them', () => {
    const rules = arr(obj(find(dir, 'ClusterRole', 'sandbank-controller-namespace-reader'))['rules']).map(
      obj,
    );
    expect(rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] }]);
    const binding = find(dir, 'ClusterRoleBinding', 'sandbank-controller-namespace-reader');
    expect(arr(binding['subjects'])).toEqual([
      { kind: 'ServiceAccount', name: 'sandbank-controller', namespace: 'sandbank-system' },
    ]);
  });
});

describe('the SandboxTemplates we ship', () => {
  const templates = OVERLAYS.flatMap((dir) =>
    objectsOf(dir)
      .filter((o) => kindOf(o) === 'SandboxTemplate')
      .map((o) => [`${dir}: ${nameOf(o)}`, o] as const),
  );

  it('exist', () => {
    expect(templates.length).toBeGreaterThan(0);
  });

  it.each(templates)('%s passes the profile', (_where, template) => {
    const podTemplate = obj(obj(template['spec'])['podTemplate']);
    const spec = { containers: [], ...obj(podTemplate['spec']) } as Parameters<typeof withSecureDefaults>[0];
    const profile = sandboxProfile(DEFAULT_PROFILE_SETTINGS, {});
    const found = profileViolations(
      { metadata: obj(podTemplate['metadata']), spec: withSecureDefaults(spec, 'gvisor') },
      profile,
    );
    expect(describeViolations(found)).toBe('');
    // Named explicitly (or left to the default, which is gvisor).
    expect(str(spec.runtimeClassName ?? 'gvisor')).toBe('gvisor');
  });
});
