/**
 * One CRD per kind serving both versions: v1beta1 stored and listed first, v1alpha1 served,
 * per-version schemas, subresources and columns, a conversion webhook without a caBundle key;
 * `only` renders the single-version CRDs that existed before the switch (and upstream's).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONVERSION_WEBHOOK, v1alpha1, v1beta1 } from '@sandbank/api';
import { kubernetesVersion, loadKubernetesDefinitions } from '../../scripts/crd/kubernetes-openapi-source.js';
import {
  pairCrdDefinitions,
  renderCrd,
  renderCrdVersions,
  type CrdVersionEntry,
  type CustomResourceDefinition,
} from '../../scripts/crd/render.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const definitions = loadKubernetesDefinitions(
  kubernetesVersion(join(repoRoot, 'e2e', 'cluster', 'versions.env')),
);
const pairs = pairCrdDefinitions(v1beta1.crdDefinitions, v1alpha1.crdDefinitions);

const versionsOf = (crd: CustomResourceDefinition) => crd.spec.versions as CrdVersionEntry[];
const byKind = (kind: string) => {
  const pair = pairs.find((p) => p.beta.kind === kind);
  if (!pair) throw new Error(`no ${kind}`);
  return renderCrdVersions(pair, definitions);
};
const specProps = (entry: CrdVersionEntry | undefined) =>
  entry?.schema.openAPIV3Schema.properties?.spec?.properties ?? {};

describe('renderCrdVersions', () => {
  it.each(pairs.map((p) => [p.beta.kind, p] as const))(
    '%s: both versions, v1beta1 first and the only storage',
    (_kind, pair) => {
      const crd = renderCrdVersions(pair, definitions);
      const versions = versionsOf(crd);
      expect(versions.map((v) => [v.name, v.served, v.storage])).toEqual([
        ['v1beta1', true, true],
        ['v1alpha1', true, false],
      ]);
      expect(crd.metadata.name).toBe(`${pair.beta.plural}.${pair.beta.group}`);
      // The v1alpha1 entry is what the single-version CRD of today serves, only no longer stored.
      expect(versions[1]).toEqual({ ...versionsOf(renderCrd(pair.alpha, definitions))[0], storage: false });
    },
  );

  it('names the conversion webhook Service, with no caBundle key', () => {
    for (const pair of pairs) {
      const crd = renderCrdVersions(pair, definitions);
      expect(crd.spec.conversion).toEqual({
        strategy: 'Webhook',
        webhook: {
          conversionReviewVersions: ['v1'],
          clientConfig: {
            service: { namespace: 'sandbank-system', name: 'sandbank-webhook', port: 443, path: '/convert' },
          },
        },
      });
      expect(JSON.stringify(crd)).not.toContain('caBundle');
    }
    expect(CONVERSION_WEBHOOK).toEqual({
      namespace: 'sandbank-system',
      service: 'sandbank-webhook',
      port: 443,
      path: '/convert',
    });
  });

  it('gives each version its own subresources: v1beta1 Sandbox has no scale, pools scale in both', () => {
    const [beta, alpha] = versionsOf(byKind('Sandbox'));
    expect(beta?.subresources).toEqual({ status: {} });
    expect(alpha?.subresources).toHaveProperty('scale.specReplicasPath', '.spec.replicas');
    for (const entry of versionsOf(byKind('SandboxWarmPool'))) {
      expect(entry.subresources).toHaveProperty('scale.specReplicasPath', '.spec.replicas');
    }
    for (const entry of versionsOf(byKind('SandboxTemplate'))) expect(entry.subresources).toBeUndefined();
  });

  it('gives each version its own schema and printer columns', () => {
    const [betaSandbox, alphaSandbox] = versionsOf(byKind('Sandbox'));
    expect(Object.keys(specProps(betaSandbox))).toContain('operatingMode');
    expect(Object.keys(specProps(betaSandbox))).not.toContain('replicas');
    expect(Object.keys(specProps(alphaSandbox))).toContain('replicas');
    expect(Object.keys(specProps(alphaSandbox))).not.toContain('operatingMode');
    const [betaClaim, alphaClaim] = versionsOf(byKind('SandboxClaim'));
    expect(Object.keys(specProps(betaClaim))).toEqual(
      expect.arrayContaining(['warmPoolRef', 'volumeClaimTemplates']),
    );
    expect(Object.keys(specProps(alphaClaim))).toEqual(
      expect.arrayContaining(['sandboxTemplateRef', 'warmpool']),
    );
    expect(betaClaim?.additionalPrinterColumns.map((c) => c.name)).toContain('Pool');
    expect(alphaClaim?.additionalPrinterColumns.map((c) => c.name)).toContain('Template');
  });

  it('keeps the names of both versions (short names merged)', () => {
    const names = byKind('SandboxClaim').spec.names as { shortNames: string[]; kind: string };
    expect(names.kind).toBe('SandboxClaim');
    expect(names.shortNames).toEqual(['sandboxclaim', 'sbc']);
  });

  it('renders the old single-version CRDs with `only`', () => {
    for (const pair of pairs) {
      const alphaOnly = renderCrdVersions(pair, definitions, { only: 'v1alpha1' });
      expect(alphaOnly).toEqual(renderCrd(pair.alpha, definitions));
      expect(alphaOnly.spec.conversion).toBeUndefined();
      const betaOnly = renderCrdVersions(pair, definitions, { only: 'v1beta1' });
      expect(versionsOf(betaOnly).map((v) => [v.name, v.storage])).toEqual([['v1beta1', true]]);
      expect(betaOnly.spec.conversion).toBeUndefined();
    }
  });

  it('refuses to pair definitions of different kinds or a kind without its other version', () => {
    const [sandbox, template] = pairs;
    if (!sandbox || !template) throw new Error('pairs missing');
    expect(() => renderCrdVersions({ beta: sandbox.beta, alpha: template.alpha }, definitions)).toThrow(
      /disagree on group/,
    );
    expect(() => renderCrdVersions({ beta: sandbox.beta, alpha: sandbox.beta }, definitions)).toThrow(
      /both versions are v1beta1/,
    );
    expect(() => pairCrdDefinitions(v1beta1.crdDefinitions, v1alpha1.crdDefinitions.slice(1))).toThrow(
      /both versions/,
    );
    expect(() =>
      pairCrdDefinitions(v1beta1.crdDefinitions.slice(1), v1alpha1.crdDefinitions.slice(0, 3)),
    ).toThrow(/SandboxClaim has no v1alpha1/);
  });
});
