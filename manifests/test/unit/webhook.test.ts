/**
 * The conversion webhook as its own Deployment (#18): a controller restart must not take every
 * v1alpha1 read and write down with it. Two replicas of the controller's image running
 * webhook.mjs behind the Service sandbank-webhook (ready pods only: the webhook waits for no
 * cache, and a stopping pod must leave the endpoints), a PDB, soft anti-affinity, the
 * controller's security context; its own ServiceAccount with only the certificate Secret and the
 * four CRDs; the controller left with neither the port nor the rights. Rendered in the base, the
 * overlays and the namespace-scoped install.
 */
import { arr, containersOf, kindOf, nameOf, obj, render, str } from '../render.js';
import type { Obj } from '../render.js';

const SYSTEM = 'sandbank-system';
const NAME = 'sandbank-webhook';
const CRDS = [
  'sandboxes.agents.x-k8s.io',
  'sandboxclaims.extensions.agents.x-k8s.io',
  'sandboxtemplates.extensions.agents.x-k8s.io',
  'sandboxwarmpools.extensions.agents.x-k8s.io',
];

const of = (objects: readonly Obj[], kind: string, name: string): Obj =>
  obj(objects.find((o) => kindOf(o) === kind && nameOf(o) === name));
const podSpecOf = (deployment: Obj): Obj => obj(obj(obj(deployment['spec'])['template'])['spec']);
const containerOf = (deployment: Obj): Obj => obj(containersOf(podSpecOf(deployment))[0]);
const envOf = (deployment: Obj): Record<string, unknown> =>
  Object.fromEntries(
    arr(containerOf(deployment)['env']).map((e) => [
      str(obj(e)['name']),
      obj(e)['value'] ?? obj(obj(obj(e)['valueFrom'])['fieldRef'])['fieldPath'],
    ]),
  );

describe.each(['manifests/base', 'manifests/overlays/local', 'manifests/test/fixtures/namespace-scoped'])(
  '%s',
  (dir) => {
    const objects = render(dir);
    const webhook = of(objects, 'Deployment', NAME);
    const controller = of(objects, 'Deployment', 'sandbank-controller');
    const pod = podSpecOf(webhook);
    const container = containerOf(webhook);

    it('runs two replicas of the controller image as webhook.mjs, spread softly over nodes', () => {
      expect(obj(webhook['spec'])['replicas']).toBe(2);
      expect(container['image']).toBe(containerOf(controller)['image']);
      expect(container['command']).toEqual(['/usr/local/bin/node', '/opt/sandbank/webhook.mjs']);
      expect(pod['serviceAccountName']).toBe(NAME);
      const selector = obj(obj(webhook['spec'])['selector'])['matchLabels'];
      expect(selector).toEqual({ 'app.kubernetes.io/name': NAME });
      const affinity = obj(obj(pod['affinity'])['podAntiAffinity']);
      expect(affinity['requiredDuringSchedulingIgnoredDuringExecution']).toBeUndefined();
      expect(arr(affinity['preferredDuringSchedulingIgnoredDuringExecution'])).toEqual([
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: { 'app.kubernetes.io/name': NAME } },
          },
        },
      ]);
    });

    it("has the controller's security context, resources of its own and readiness on its health port", () => {
      expect(pod['securityContext']).toEqual(podSpecOf(controller)['securityContext']);
      expect(container['securityContext']).toEqual(containerOf(controller)['securityContext']);
      const resources = obj(container['resources']);
      expect(Object.keys(obj(resources['requests'])).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory']);
      expect(Object.keys(obj(resources['limits'])).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory']);
      const ports = arr(container['ports']).map(obj);
      expect(ports.map((p) => [p['name'], p['containerPort']])).toEqual([
        ['http-metrics', 8080],
        ['https-webhook', 9443],
      ]);
      expect(obj(container['readinessProbe'])).toMatchObject({
        httpGet: { path: '/readyz', port: 'http-metrics' },
      });
      expect(envOf(webhook)).toMatchObject({
        POD_NAMESPACE: 'metadata.namespace',
        HTTP_PORT: '8080',
        WEBHOOK_PORT: '9443',
      });
      // Longer than a review may take (the server's request timeout) plus the drain delay.
      expect(Number(pod['terminationGracePeriodSeconds'])).toBeGreaterThanOrEqual(65);
    });

    it('is kept at one ready pod through voluntary disruptions', () => {
      expect(obj(of(objects, 'PodDisruptionBudget', NAME)['spec'])).toEqual({
        minAvailable: 1,
        selector: { matchLabels: { 'app.kubernetes.io/name': NAME } },
      });
    });

    it('is called through the Service sandbank-webhook, ready pods only', () => {
      const spec = obj(of(objects, 'Service', NAME)['spec']);
      expect(spec['selector']).toEqual({ 'app.kubernetes.io/name': NAME });
      expect(spec['publishNotReadyAddresses']).toBeUndefined();
      expect(spec['ports']).toEqual([
        { name: 'https-webhook', port: 443, targetPort: 'https-webhook', protocol: 'TCP' },
      ]);
    });

    it('admits 9443 from anywhere (the API server is no pod) and 8080 for probes and metrics', () => {
      const policy = obj(of(objects, 'NetworkPolicy', NAME)['spec']);
      expect(policy['podSelector']).toEqual({ matchLabels: { 'app.kubernetes.io/name': NAME } });
      expect(policy['ingress']).toEqual([
        {
          ports: [
            { protocol: 'TCP', port: 8080 },
            { protocol: 'TCP', port: 9443 },
          ],
        },
      ]);
      const egress = arr(policy['egress']).map(obj);
      expect(egress[0]).toEqual({
        ports: [
          { protocol: 'TCP', port: 443 },
          { protocol: 'TCP', port: 6443 },
        ],
      });
    });

    it('has only the certificate Secret and the four CRDs, by name', () => {
      const role = arr(of(objects, 'Role', NAME)['rules']).map(obj);
      expect(role).toEqual([
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['sandbank-webhook-tls'],
          verbs: ['get', 'update'],
        },
      ]);
      expect(arr(of(objects, 'ClusterRole', `${NAME}-crds`)['rules'])).toEqual([
        {
          apiGroups: ['apiextensions.k8s.io'],
          resources: ['customresourcedefinitions'],
          resourceNames: CRDS,
          verbs: ['get', 'patch'],
        },
      ]);
      for (const [kind, name] of [
        ['RoleBinding', NAME],
        ['ClusterRoleBinding', `${NAME}-crds`],
      ] as const)
        expect(arr(of(objects, kind, name)['subjects'])).toEqual([
          { kind: 'ServiceAccount', name: NAME, namespace: SYSTEM },
        ]);
      expect(of(objects, 'ServiceAccount', NAME)).toMatchObject({ metadata: { namespace: SYSTEM } });
    });

    it('leaves the controller without the webhook: no port, no variables, no 9443 ingress', () => {
      const ports = arr(containerOf(controller)['ports']).map((p) => obj(p)['containerPort']);
      expect(ports).toEqual([8080]);
      expect(Object.keys(envOf(controller)).filter((k) => k.startsWith('WEBHOOK'))).toEqual([]);
      const ingress = arr(obj(of(objects, 'NetworkPolicy', 'sandbank-controller')['spec'])['ingress']);
      expect(JSON.stringify(ingress)).not.toContain('9443');
      expect(
        objects.some((o) => kindOf(o) === 'Role' && nameOf(o) === 'sandbank-controller-webhook-tls'),
      ).toBe(false);
    });
  },
);

describe('the GKE overlays', () => {
  it.each(['manifests/overlays/gke-autopilot', 'manifests/overlays/gke-standard'])(
    '%s renders the webhook with its image',
    (dir) => {
      const objects = render(dir);
      const webhook = of(objects, 'Deployment', NAME);
      expect(str(containerOf(webhook)['image'])).toBe(
        'REGION-docker.pkg.dev/PROJECT/sandbank/controller:0.1.0',
      );
    },
  );

  it('gives the webhook limits equal to its requests on Autopilot', () => {
    const resources = obj(
      containerOf(of(render('manifests/overlays/gke-autopilot'), 'Deployment', NAME))['resources'],
    );
    expect(obj(resources['requests'])['cpu']).toBeDefined();
    expect(resources['limits']).toEqual(resources['requests']);
  });
});
