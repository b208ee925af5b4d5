/**
 * The checked-in CRDs are exactly what the generator prints today, and the check notices a schema
 * edit that was not regenerated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { sandboxWarmPoolCrd, SandboxWarmPool } from '@sandbank/api';
import { renderAllCrds } from '../../scripts/crd/files.js';
import { kubernetesVersion, loadKubernetesDefinitions } from '../../scripts/crd/kubernetes-openapi-source.js';
import { renderCrd } from '../../scripts/crd/render.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('generated CRDs', () => {
  const files = renderAllCrds(repoRoot);

  it.each(files.map((f) => [f.path.slice(repoRoot.length), f] as const))(
    '%s is fresh (run `make generate` if this fails)',
    (_shown, file) => {
      expect(readFileSync(file.path, 'utf8')).toBe(file.content);
    },
  );

  it('would be stale after a schema edit that was not regenerated', () => {
    const definitions = loadKubernetesDefinitions(
      kubernetesVersion(join(repoRoot, 'e2e', 'cluster', 'versions.env')),
    );
    const edited = SandboxWarmPool.extend({
      spec: SandboxWarmPool.shape.spec.extend({ paused: z.boolean().optional() }),
    });
    const before = renderCrd(sandboxWarmPoolCrd, definitions);
    const after = renderCrd({ ...sandboxWarmPoolCrd, schema: edited }, definitions);
    expect(JSON.stringify(after)).not.toBe(JSON.stringify(before));
    expect(JSON.stringify(after)).toContain('"paused"');
  });

  it('embeds the real PodSpec, not preserve-unknown-fields', () => {
    const sandbox = files.find((f) => f.path.endsWith('agents.x-k8s.io_sandboxes.yaml'));
    expect(sandbox?.content).toContain('runtimeClassName:');
    expect(sandbox?.content).toContain('readinessProbe:');
    const podSpecSection = sandbox?.content.split('podTemplate:')[1]?.split('shutdownTime:')[0] ?? '';
    expect(podSpecSection).not.toMatch(/^ {16,24}x-kubernetes-preserve-unknown-fields/m);
  });
});
