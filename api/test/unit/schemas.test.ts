import { formatZodError, v1alpha1 } from '@sandbank/api';
import type { z } from 'zod';
import {
  gkeGuideObjects,
  invalidCases,
  validClaim,
  validPool,
  validSandbox,
  validTemplate,
  type KubeObject,
} from '../fixtures/objects.js';

// The v1alpha1 schemas (the GKE guide's version); v1beta1-schemas.test.ts has the storage version's.
const { Sandbox, SandboxClaim, SandboxWarmPool, TERMINAL_CLAIM_REASONS } = v1alpha1;
const Reasons = v1alpha1.ClaimReadyReason;
type ClaimReadyReason = v1alpha1.ClaimReadyReason;
type SandboxTemplate = v1alpha1.SandboxTemplate;
type SandboxWarmPool = v1alpha1.SandboxWarmPool;

const schemaByKind: Record<string, z.ZodType> = {
  Sandbox,
  SandboxTemplate: v1alpha1.SandboxTemplate,
  SandboxWarmPool,
  SandboxClaim,
};

function schemaOf(object: KubeObject): z.ZodType {
  const schema = schemaByKind[object.kind];
  if (!schema) throw new Error(`no schema for ${object.kind}`);
  return schema;
}

describe('zod schemas', () => {
  it('accept the GKE guide YAML unchanged and fill in upstream defaults', () => {
    const [template, pool] = gkeGuideObjects.map((o) => schemaOf(o).parse(o)) as [
      SandboxTemplate,
      SandboxWarmPool,
    ];
    expect(template.spec.networkPolicyManagement).toBe('Managed');
    expect(template.spec.envVarsInjectionPolicy).toBe('Disallowed');
    expect(template.spec.podTemplate.spec.runtimeClassName).toBe('gvisor');
    // Fields zod does not model are kept, not stripped.
    expect(template.spec.podTemplate.spec.containers[0]).toHaveProperty('readinessProbe.httpGet.port', 8888);
    expect(pool.spec).toEqual({ replicas: 2, sandboxTemplateRef: { name: 'python-runtime-template' } });
  });

  it.each([validTemplate, validPool, validClaim, validSandbox])('accept a full valid object (%#)', (make) => {
    const object = make();
    const result = schemaOf(object).safeParse(object);
    expect(result.error ? formatZodError(result.error) : '').toBe('');
  });

  it('default a claim to warmpool "default" and a sandbox to one replica kept on shutdown', () => {
    const claim = SandboxClaim.parse({
      metadata: { name: 'c' },
      spec: { sandboxTemplateRef: { name: 't' } },
    });
    expect(claim.spec.warmpool).toBe('default');
    expect(claim.apiVersion).toBe('extensions.agents.x-k8s.io/v1alpha1');
    const sandbox = Sandbox.parse({ metadata: {}, spec: { podTemplate: { spec: { containers: [] } } } });
    expect(sandbox.spec).toMatchObject({ replicas: 1, shutdownPolicy: 'Retain' });
  });

  it('keep unknown metadata fields of objects read from the API server', () => {
    const object = { ...validPool(), metadata: { name: 'p', managedFields: [{ manager: 'kubectl' }] } };
    expect(SandboxWarmPool.parse(object).metadata).toHaveProperty('managedFields');
  });

  it.each(invalidCases.map((c) => [c.title, c] as const))('reject %s, naming the field', (_title, c) => {
    const result = schemaOf(c.object).safeParse(c.object);
    expect(result.success).toBe(false);
    expect(result.error ? formatZodError(result.error) : '').toContain(c.field);
  });

  it('has at least 20 invalid cases', () => {
    expect(invalidCases.length).toBeGreaterThanOrEqual(20);
  });
});

describe('claim reasons', () => {
  it('mark exactly the failure reasons as terminal', () => {
    // TemplateRejected waits: a cluster admin's namespace label or a template edit can lift it
    const transient: ClaimReadyReason[] = [
      Reasons.SandboxReady,
      Reasons.Pending,
      Reasons.SandboxNotReady,
      Reasons.TemplateRejected,
    ];
    for (const reason of Object.values(Reasons)) {
      expect(TERMINAL_CLAIM_REASONS.has(reason)).toBe(!transient.includes(reason));
    }
  });
});
