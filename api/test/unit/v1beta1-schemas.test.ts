/**
 * The v1beta1 schemas accept objects as upstream agent-sandbox v1.0 users and its SDK write them,
 * fill in upstream's defaults, refuse what upstream refuses (naming the field), share one status
 * superset with v1alpha1, and render into structural CRD schemas.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatZodError, v1beta1 } from '@sandbank/api';
import { v1alpha1 as alpha } from '@sandbank/api';
import { kubernetesVersion, loadKubernetesDefinitions } from '../../scripts/crd/kubernetes-openapi-source.js';
import { renderCrd } from '../../scripts/crd/render.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

const podTemplate = {
  spec: {
    runtimeClassName: 'gvisor',
    containers: [{ name: 'python-runtime', image: 'img:1', ports: [{ containerPort: 8888 }] }],
  },
};

function issues(result: { error?: Parameters<typeof formatZodError>[0] }): string {
  return result.error ? formatZodError(result.error) : '';
}

describe('v1beta1 schemas', () => {
  it('accept a claim as the upstream SDK 1.0.8 creates it', () => {
    const body = {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxClaim',
      metadata: {
        name: 'sandbox-claim-0a1b2c3d',
        labels: { 'agents.x-k8s.io/created-by': 'python-client' },
        annotations: { 'agents.x-k8s.io/client-first-requested-at': '2026-12-07T10:00:00.123456Z' },
      },
      spec: {
        warmPoolRef: { name: 'python-sandbox-warmpool' },
        lifecycle: { shutdownTime: '2026-12-07T11:00:00Z', shutdownPolicy: 'Delete' },
        additionalPodMetadata: { labels: { 'sandbox.users.io/team': 'ml' }, annotations: { note: 'x' } },
        env: [{ name: 'MODE', value: 'test' }],
        volumeClaimTemplates: [
          {
            metadata: { name: 'work' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          },
        ],
      },
    };
    const result = v1beta1.SandboxClaim.safeParse(body);
    expect(issues(result)).toBe('');
    expect(result.data?.spec.warmPoolRef).toEqual({ name: 'python-sandbox-warmpool' });
    expect(result.data?.spec.lifecycle?.shutdownPolicy).toBe('Delete');
  });

  it('refuse v1alpha1-only claim fields in v1beta1, naming them', () => {
    for (const field of ['sandboxTemplateRef', 'warmpool']) {
      const result = v1beta1.SandboxClaim.safeParse({
        metadata: { name: 'c' },
        spec: { warmPoolRef: { name: 'p' }, [field]: field === 'warmpool' ? 'none' : { name: 't' } },
      });
      expect(issues(result)).toContain(field);
    }
    expect(
      issues(v1beta1.SandboxClaim.safeParse({ metadata: { name: 'c' }, spec: { warmPoolRef: {} } })),
    ).toContain('spec.warmPoolRef.name');
  });

  it('keep warmPoolRef optional (claims made through v1alpha1 name no pool)', () => {
    const claim = v1beta1.SandboxClaim.parse({ metadata: { name: 'c' }, spec: {} });
    expect(claim.apiVersion).toBe('extensions.agents.x-k8s.io/v1beta1');
    expect(claim.spec.warmPoolRef).toBeUndefined();
  });

  it('default a pool to one replica and accept replicas 0 (cold claims)', () => {
    const pool = v1beta1.SandboxWarmPool.parse({
      metadata: { name: 'p' },
      spec: { sandboxTemplateRef: { name: 't' } },
    });
    expect(pool.spec.replicas).toBe(1);
    const cold = v1beta1.SandboxWarmPool.parse({
      metadata: { name: 'p' },
      spec: { replicas: 0, sandboxTemplateRef: { name: 't' }, updateStrategy: { type: 'Recreate' } },
    });
    expect(cold.spec).toEqual({
      replicas: 0,
      sandboxTemplateRef: { name: 't' },
      updateStrategy: { type: 'Recreate' },
    });
    expect(
      issues(
        v1beta1.SandboxWarmPool.safeParse({
          metadata: {},
          spec: { replicas: -1, sandboxTemplateRef: { name: 't' } },
        }),
      ),
    ).toContain('spec.replicas');
  });

  it('default a Sandbox to operatingMode Running and refuse v1alpha1 replicas', () => {
    const sandbox = v1beta1.Sandbox.parse({ metadata: { name: 's' }, spec: { podTemplate } });
    expect(sandbox.spec.operatingMode).toBe('Running');
    expect(sandbox.spec.shutdownPolicy).toBe('Retain');
    expect(
      issues(v1beta1.Sandbox.safeParse({ metadata: {}, spec: { podTemplate, operatingMode: 'Paused' } })),
    ).toContain('spec.operatingMode');
    expect(issues(v1beta1.Sandbox.safeParse({ metadata: {}, spec: { podTemplate, replicas: 1 } }))).toContain(
      'replicas',
    );
  });

  it('default a template to volumeClaimTemplatesPolicy Disallowed and keep the v1alpha1 defaults', () => {
    const template = v1beta1.SandboxTemplate.parse({
      metadata: { name: 't' },
      spec: { podTemplate, service: true },
    });
    expect(template.spec).toMatchObject({
      networkPolicyManagement: 'Managed',
      envVarsInjectionPolicy: 'Disallowed',
      volumeClaimTemplatesPolicy: 'Disallowed',
      service: true,
    });
    expect(
      issues(
        v1beta1.SandboxTemplate.safeParse({
          metadata: {},
          spec: { podTemplate, volumeClaimTemplatesPolicy: 'Merge' },
        }),
      ),
    ).toContain('spec.volumeClaimTemplatesPolicy');
  });

  it('share one status superset with v1alpha1', () => {
    expect(v1beta1.SandboxStatus).toBe(alpha.SandboxStatus);
    const poolStatus = { replicas: 2, readyReplicas: 1, selector: 'a=b', observedGeneration: 3 };
    expect(v1beta1.SandboxWarmPoolStatus.parse(poolStatus)).toEqual(poolStatus);
    const claimStatus = {
      sandbox: { name: 'c', podIPs: ['10.0.0.1'], serviceFQDN: 'c.ns.svc.cluster.local' },
    };
    expect(v1beta1.SandboxClaimStatus.parse(claimStatus)).toEqual(claimStatus);
    // A v1alpha1-era status (without the new fields) still parses.
    expect(v1beta1.SandboxClaimStatus.parse({ sandbox: { name: 'c' } })).toEqual({ sandbox: { name: 'c' } });
  });

  it('know every v1alpha1 claim reason plus those the upstream SDK fails fast on', () => {
    const reasons = Object.values(v1beta1.ClaimReadyReason) as string[];
    for (const old of Object.values(alpha.ClaimReadyReason)) expect(reasons).toContain(old);
    const sdkFailFast = [
      'TemplateNotFound',
      'WarmPoolNotFound',
      'InvalidMetadata',
      'EnvVarsInjectionRejected',
      'VolumeClaimTemplatesError',
      'ClaimExpired',
      'SandboxExpired',
      'InvalidConfiguration',
      'PodFailed',
      'PodSucceeded',
    ] as const;
    for (const reason of sdkFailFast) {
      expect(reasons).toContain(reason);
      expect(v1beta1.TERMINAL_CLAIM_REASONS.has(reason)).toBe(true);
    }
    for (const transient of [
      'DependenciesReady',
      'DependenciesNotReady',
      'SandboxSuspended',
      'Pending',
    ] as const) {
      expect(v1beta1.TERMINAL_CLAIM_REASONS.has(transient)).toBe(false);
    }
    for (const reason of v1beta1.FINAL_CLAIM_REASONS)
      expect(v1beta1.TERMINAL_CLAIM_REASONS.has(reason)).toBe(true);
  });

  describe('CRD definitions', () => {
    const definitions = loadKubernetesDefinitions(
      kubernetesVersion(join(repoRoot, 'e2e', 'cluster', 'versions.env')),
    );
    const rendered = v1beta1.crdDefinitions.map((def) => renderCrd(def, definitions));

    it('name the same CRDs as v1alpha1, in the same order', () => {
      expect(rendered.map((crd) => crd.metadata.name)).toEqual(
        alpha.crdDefinitions.map((def) => `${def.plural}.${def.group}`),
      );
      for (const def of v1beta1.crdDefinitions) expect(def.version).toBe('v1beta1');
    });

    it('show upstream v1.0.3 printer columns by default (Sandbank extras only with -o wide)', () => {
      const defaultColumns = (kind: string) =>
        v1beta1.crdDefinitions
          .find((def) => def.kind === kind)
          ?.printerColumns.filter((c) => !c.priority)
          .map((c) => c.name);
      expect(defaultColumns('Sandbox')).toEqual(['Ready', 'Reason', 'Age']);
      expect(defaultColumns('SandboxClaim')).toEqual(['Ready', 'Sandbox', 'Reason', 'Age']);
      expect(defaultColumns('SandboxWarmPool')).toEqual(['Ready', 'Desired', 'Age']);
      expect(defaultColumns('SandboxTemplate')).toEqual(['Age']);
    });

    it('give a Sandbox only the status subresource and a pool status and scale', () => {
      expect(v1beta1.sandboxCrd.subresources).toEqual({ status: true });
      expect(v1beta1.sandboxWarmPoolCrd.subresources.scale?.specReplicasPath).toBe('.spec.replicas');
    });

    it('render the new fields, defaults and the immutability rule', () => {
      const text = JSON.stringify(rendered);
      for (const needle of [
        '"operatingMode"',
        '"warmPoolRef"',
        '"volumeClaimTemplatesPolicy"',
        '"observedGeneration"',
        '"serviceFQDN"',
        'volumeClaimTemplates is immutable',
      ]) {
        expect(text).toContain(needle);
      }
      const sandboxSpec = (
        rendered[0]?.spec.versions as {
          schema: {
            openAPIV3Schema: {
              properties: Record<string, { properties: Record<string, { default?: unknown }> }>;
            };
          };
        }[]
      )[0]?.schema.openAPIV3Schema.properties.spec?.properties;
      expect(sandboxSpec?.operatingMode?.default).toBe('Running');
      expect(sandboxSpec).not.toHaveProperty('replicas');
    });
  });
});
