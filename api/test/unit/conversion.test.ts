/**
 * Conversion between v1alpha1 and v1beta1: a table per kind and field, both round-trip laws on
 * every fixture (and on generated variants), objects in older shapes, damaged annotations, the
 * upstream v0.5 state annotation, and `claimIntent` agreeing with what v1alpha1 clients see.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  claimIntent,
  convertObject,
  ConversionAnnotations,
  crdVersionPairs,
  v1alpha1,
  v1beta1,
} from '@sandbank/api';
import { kubernetesVersion, loadKubernetesDefinitions } from '../../scripts/crd/kubernetes-openapi-source.js';
import type { JsonSchema } from '../../scripts/crd/openapi.js';
import { renderCrdVersions, type CrdVersionEntry } from '../../scripts/crd/render.js';

const AlphaClaim = v1alpha1.SandboxClaim;

type Json = Record<string, unknown>;

const ALPHA_ANN = ConversionAnnotations.v1alpha1Fields;
const BETA_ANN = ConversionAnnotations.v1beta1Fields;
const V05_ANN = ConversionAnnotations.upstreamV05ClaimState;

const SBX_A = 'agents.x-k8s.io/v1alpha1';
const SBX_B = 'agents.x-k8s.io/v1beta1';
const EXT_A = 'extensions.agents.x-k8s.io/v1alpha1';
const EXT_B = 'extensions.agents.x-k8s.io/v1beta1';

/** Converts and asserts success; the warnings are returned beside the object. */
function convert(obj: unknown, to: string): { object: Json; warnings: string[] } {
  const result = convertObject(obj, to);
  if (!result.ok) throw new Error(`conversion failed: ${result.message}`);
  return { object: result.object, warnings: result.warnings };
}
const toBeta = (obj: Json) => convert(obj, String(obj.apiVersion).replace('v1alpha1', 'v1beta1')).object;
const toAlpha = (obj: Json) => convert(obj, String(obj.apiVersion).replace('v1beta1', 'v1alpha1')).object;

const owner = {
  apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
  kind: 'SandboxClaim',
  name: 'c',
  uid: 'u-1',
  controller: true,
  blockOwnerDeletion: true,
};
const metadata = (extra: Json = {}): Json => ({
  name: 'obj',
  namespace: 'ns',
  uid: 'uid-1',
  resourceVersion: '42',
  generation: 3,
  labels: { app: 'x' },
  ownerReferences: [owner],
  managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
  ...extra,
});
const podTemplate = {
  metadata: { labels: { a: 'b' } },
  spec: { containers: [{ name: 'main', image: 'img' }] },
};
const vcts = [
  {
    metadata: { name: 'work' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  },
];
const conditions = [
  {
    type: 'Ready',
    status: 'True',
    reason: 'DependenciesReady',
    message: '',
    lastTransitionTime: '2026-01-01T00:00:00Z',
  },
];

function alphaSandbox(spec: Json = {}, meta: Json = {}): Json {
  return {
    apiVersion: SBX_A,
    kind: 'Sandbox',
    metadata: metadata(meta),
    spec: { podTemplate, shutdownPolicy: 'Retain', ...spec },
    status: {
      conditions,
      podIPs: ['10.0.0.7'],
      nodeName: 'n1',
      replicas: 1,
      selector: 'h=1',
      serviceFQDN: 's.ns.svc',
    },
  };
}
function betaSandbox(spec: Json = {}, meta: Json = {}): Json {
  return { ...alphaSandbox(spec, meta), apiVersion: SBX_B };
}
function alphaTemplate(spec: Json = {}, meta: Json = {}): Json {
  return {
    apiVersion: EXT_A,
    kind: 'SandboxTemplate',
    metadata: metadata(meta),
    spec: {
      podTemplate,
      service: true,
      networkPolicy: { egress: [{ ports: [{ port: 443 }] }] },
      networkPolicyManagement: 'Managed',
      envVarsInjectionPolicy: 'Allowed',
      ...spec,
    },
  };
}
function betaTemplate(spec: Json = {}, meta: Json = {}): Json {
  return { ...alphaTemplate({ volumeClaimTemplatesPolicy: 'Disallowed', ...spec }, meta), apiVersion: EXT_B };
}
function pool(apiVersion: string, spec: Json = {}): Json {
  return {
    apiVersion,
    kind: 'SandboxWarmPool',
    metadata: metadata(),
    spec: { replicas: 2, sandboxTemplateRef: { name: 't' }, updateStrategy: { type: 'Recreate' }, ...spec },
    status: { replicas: 2, readyReplicas: 1, selector: 'agents.x-k8s.io/pool=abc', observedGeneration: 3 },
  };
}
const claimStatus = { conditions, sandbox: { name: 'c', podIPs: ['10.0.0.7'], serviceFQDN: 'c.ns.svc' } };
function alphaClaim(spec: Json, meta: Json = {}): Json {
  return {
    apiVersion: EXT_A,
    kind: 'SandboxClaim',
    metadata: metadata(meta),
    spec: { lifecycle: { shutdownPolicy: 'Delete', shutdownTime: '2030-01-01T00:00:00Z' }, ...spec },
    status: claimStatus,
  };
}
function betaClaim(spec: Json, meta: Json = {}): Json {
  return { ...alphaClaim(spec, meta), apiVersion: EXT_B };
}
const annotations = (entries: Record<string, unknown>): Json => ({
  annotations: Object.fromEntries(
    Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  ),
});
const specOf = (obj: Json) => obj.spec as Json;
const annotationsOf = (obj: Json) => (obj.metadata as Json).annotations as Record<string, string> | undefined;

describe('convertObject: requests it refuses, naming what is wrong', () => {
  it.each([
    [null, EXT_B, 'object: not a JSON object'],
    [[], EXT_B, 'object: not a JSON object'],
    [{ kind: 'SandboxClaim' }, EXT_B, 'object.apiVersion: missing'],
    [{ apiVersion: EXT_A }, EXT_B, 'object.kind: missing'],
    [{ apiVersion: 'apps/v1', kind: 'Deployment' }, 'apps/v2', 'unknown group apps'],
    [
      { apiVersion: EXT_A, kind: 'Sandbox' },
      EXT_B,
      'object.kind Sandbox: not a kind of extensions.agents.x-k8s.io',
    ],
    [{ apiVersion: SBX_A, kind: 'Sandbox' }, EXT_B, "not the object's group agents.x-k8s.io"],
    [{ apiVersion: 'agents.x-k8s.io/v2', kind: 'Sandbox' }, SBX_B, 'unknown version v2'],
    [
      { apiVersion: SBX_A, kind: 'Sandbox' },
      'agents.x-k8s.io/v1',
      'desiredAPIVersion agents.x-k8s.io/v1: unknown version v1',
    ],
    [{ apiVersion: SBX_A, kind: 'Sandbox' }, 'v1beta1', 'desiredAPIVersion "v1beta1": not group/version'],
    [{ apiVersion: 'v1', kind: 'Pod' }, 'v1', 'not group/version'],
  ])('%j → %s', (obj, to, message) => {
    const result = convertObject(obj, to);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.message).toContain(message);
  });

  it('returns an object of the same version unchanged (apiVersion set) and never mutates its input', () => {
    for (const obj of [alphaSandbox(), betaClaim({ warmPoolRef: { name: 'p' } }), alphaTemplate()]) {
      const before = structuredClone(obj);
      expect(convert(obj, String(obj.apiVersion))).toEqual({ object: obj, warnings: [] });
      expect(obj).toEqual(before);
    }
    const claim = alphaClaim({ sandboxTemplateRef: { name: 't' }, warmpool: 'none' });
    const before = structuredClone(claim);
    toAlpha(toBeta(claim));
    expect(claim).toEqual(before);
  });
});

describe('Sandbox', () => {
  it.each([
    [{ replicas: 0 }, { operatingMode: 'Suspended' }],
    [{ replicas: 1 }, { operatingMode: 'Running' }],
    [{}, {}],
  ])('v1alpha1 %j ↔ v1beta1 %j', (alphaSpec, betaSpec) => {
    const alpha = alphaSandbox(alphaSpec);
    const beta = betaSandbox(betaSpec);
    expect(toBeta(alpha)).toEqual(beta);
    expect(toAlpha(beta)).toEqual(alpha);
  });

  it('copies every other field, status, unknown fields and ownerReferences verbatim', () => {
    const alpha = alphaSandbox(
      {
        replicas: 1,
        volumeClaimTemplates: vcts,
        service: false,
        shutdownTime: '2030-01-01T00:00:00Z',
        futureField: { x: 1 },
      },
      { annotations: { note: 'kept' }, finalizers: ['f'] },
    );
    const beta = toBeta(alpha);
    expect(specOf(beta)).toEqual({ ...specOf(alpha), replicas: undefined, operatingMode: 'Running' });
    expect(Object.keys(specOf(beta))).not.toContain('replicas');
    expect(beta.metadata).toEqual(alpha.metadata);
    expect(beta.status).toEqual(alpha.status);
    expect((beta.metadata as Json).ownerReferences).toEqual([owner]);
  });

  it('converts a damaged replicas or operatingMode as running, with a warning', () => {
    const a = convert(alphaSandbox({ replicas: 2 }), SBX_B);
    expect(specOf(a.object).operatingMode).toBe('Running');
    expect(a.warnings.join()).toContain('spec.replicas 2');
    const b = convert(betaSandbox({ operatingMode: 'Paused' }), SBX_A);
    expect(specOf(b.object).replicas).toBe(1);
    expect(b.warnings.join()).toContain('spec.operatingMode "Paused"');
  });
});

describe('SandboxTemplate', () => {
  it.each(['Allowed', 'Overrides'])(
    'carries volumeClaimTemplatesPolicy %s through v1alpha1 in the annotation',
    (policy) => {
      const beta = betaTemplate({ volumeClaimTemplatesPolicy: policy, volumeClaimTemplates: vcts });
      const alpha = toAlpha(beta);
      expect(specOf(alpha)).not.toHaveProperty('volumeClaimTemplatesPolicy');
      expect(specOf(alpha).volumeClaimTemplates).toEqual(vcts);
      expect(annotationsOf(alpha)).toEqual({
        [BETA_ANN]: JSON.stringify({ volumeClaimTemplatesPolicy: policy }),
      });
      expect(toBeta(alpha)).toEqual(beta);
    },
  );

  it('writes no annotation for the default (Disallowed) or an absent policy', () => {
    expect(toAlpha(betaTemplate())).toEqual(alphaTemplate());
    const old = betaTemplate();
    delete specOf(old).volumeClaimTemplatesPolicy;
    expect(toAlpha(old)).toEqual(alphaTemplate());
    // and back: absent, which the API server defaults to Disallowed
    expect(specOf(toBeta(alphaTemplate()))).not.toHaveProperty('volumeClaimTemplatesPolicy');
  });

  it('ignores a damaged annotation (with a warning) and drops it', () => {
    for (const [value, warning] of [
      ['{not json', 'not valid JSON'],
      ['["Allowed"]', 'not a JSON object'],
      [JSON.stringify({ volumeClaimTemplatesPolicy: 'Sometimes' }), '"Sometimes" is not a policy'],
      [JSON.stringify({ volumeClaimTemplatesPolicy: 'Allowed', extra: 1 }), 'unknown field extra'],
    ] as const) {
      const { object, warnings } = convert(
        alphaTemplate({}, { annotations: { [BETA_ANN]: value, keep: 'me' } }),
        EXT_B,
      );
      expect(annotationsOf(object)).toEqual({ keep: 'me' });
      expect(warnings.join()).toContain(warning);
    }
  });

  it('replaces an annotation of ours found on a v1beta1 object instead of resurrecting it', () => {
    const stale = betaTemplate({}, annotations({ [BETA_ANN]: { volumeClaimTemplatesPolicy: 'Allowed' } }));
    const { object, warnings } = convert(stale, EXT_A);
    expect(annotationsOf(object)).toBeUndefined();
    expect(warnings.join()).toContain('replaced');
    expect(specOf(toBeta(object))).not.toHaveProperty('volumeClaimTemplatesPolicy');
  });
});

describe('SandboxWarmPool', () => {
  it('copies spec and status (observedGeneration included) both ways', () => {
    expect(toBeta(pool(EXT_A))).toEqual(pool(EXT_B));
    expect(toAlpha(pool(EXT_B))).toEqual(pool(EXT_A));
    expect(toAlpha(pool(EXT_B, { replicas: 0 }))).toEqual(pool(EXT_A, { replicas: 0 }));
  });

  it('gives a v1beta1 pool without replicas (default 1) replicas 1 in v1alpha1', () => {
    const beta = pool(EXT_B);
    delete specOf(beta).replicas;
    expect(specOf(toAlpha(beta)).replicas).toBe(1);
  });
});

describe('SandboxClaim', () => {
  const T = { sandboxTemplateRef: { name: 't' } };
  it.each<[string, Json, Json, Json | undefined, Json | undefined]>([
    // name, v1alpha1 spec, v1beta1 spec, annotations on beta, annotations on alpha
    [
      'a specific pool (as v1beta1 clients write it)',
      { warmpool: 'pool-a' },
      { warmPoolRef: { name: 'pool-a' } },
      undefined,
      undefined,
    ],
    [
      'a template and a specific pool',
      { ...T, warmpool: 'pool-a' },
      { warmPoolRef: { name: 'pool-a' } },
      { [ALPHA_ANN]: T },
      undefined,
    ],
    [
      'a template, any pool',
      { ...T, warmpool: 'default' },
      {},
      { [ALPHA_ANN]: { ...T, warmpool: 'default' } },
      undefined,
    ],
    [
      'a template, always cold',
      { ...T, warmpool: 'none' },
      {},
      { [ALPHA_ANN]: { ...T, warmpool: 'none' } },
      undefined,
    ],
    ['a template, no warmpool (before its default)', T, {}, { [ALPHA_ANN]: T }, undefined],
    [
      'volumeClaimTemplates',
      { warmpool: 'pool-a' },
      { warmPoolRef: { name: 'pool-a' }, volumeClaimTemplates: vcts },
      undefined,
      { [BETA_ANN]: { volumeClaimTemplates: vcts } },
    ],
    [
      'a pool named "default"',
      {},
      { warmPoolRef: { name: 'default' } },
      undefined,
      { [BETA_ANN]: { warmPoolRef: { name: 'default' } } },
    ],
    [
      'a pool named "none" with volumeClaimTemplates, env and metadata',
      { env: [{ name: 'A', value: '1' }], additionalPodMetadata: { labels: { 'x.io/y': 'z' } } },
      {
        warmPoolRef: { name: 'none' },
        volumeClaimTemplates: vcts,
        env: [{ name: 'A', value: '1' }],
        additionalPodMetadata: { labels: { 'x.io/y': 'z' } },
      },
      undefined,
      { [BETA_ANN]: { volumeClaimTemplates: vcts, warmPoolRef: { name: 'none' } } },
    ],
  ])('%s', (_name, alphaSpec, betaSpec, betaAnnotations, alphaAnnotations) => {
    const alpha = alphaClaim(alphaSpec, alphaAnnotations ? annotations(alphaAnnotations) : {});
    const beta = betaClaim(betaSpec, betaAnnotations ? annotations(betaAnnotations) : {});
    expect(toBeta(alpha)).toEqual(beta);
    expect(toAlpha(beta)).toEqual(alpha);
  });

  it('lets warmPoolRef win over what the annotation recorded (a v1beta1 client changed the pool)', () => {
    const edited = betaClaim(
      { warmPoolRef: { name: 'pool-b' } },
      annotations({ [ALPHA_ANN]: { ...T, warmpool: 'default' } }),
    );
    expect(specOf(toAlpha(edited))).toMatchObject({ ...T, warmpool: 'pool-b' });
    expect(claimIntent(v1beta1.SandboxClaim.parse(edited))).toEqual({
      pool: 'pool-b',
      template: 't',
      warm: 'pool',
    });
  });

  it('lets a v1alpha1 edit of warmpool win over a carried warmPoolRef', () => {
    const alpha = alphaClaim(
      { warmpool: 'pool-c' },
      annotations({ [BETA_ANN]: { warmPoolRef: { name: 'default' } } }),
    );
    expect(specOf(toBeta(alpha)).warmPoolRef).toEqual({ name: 'pool-c' });
  });

  it('reads upstream v0.5 state when our annotation is absent, and leaves it in place', () => {
    const state = {
      apiVersion: EXT_A,
      kind: 'SandboxClaim',
      spec: { sandboxTemplateRef: { name: 't5' }, warmpool: 'default' },
    };
    const migrated = betaClaim(
      { warmPoolRef: { name: 'shadow-pool-t5' } },
      annotations({ [V05_ANN]: state }),
    );
    const alpha = toAlpha(migrated);
    expect(specOf(alpha)).toMatchObject({ sandboxTemplateRef: { name: 't5' }, warmpool: 'shadow-pool-t5' });
    expect(annotationsOf(alpha)).toEqual({ [V05_ANN]: JSON.stringify(state) });
    expect(toBeta(alpha)).toEqual(migrated);
    // Ours, when present, is the record.
    const both = betaClaim(
      {},
      annotations({ [V05_ANN]: state, [ALPHA_ANN]: { sandboxTemplateRef: { name: 'mine' } } }),
    );
    expect(specOf(toAlpha(both))).toMatchObject({ sandboxTemplateRef: { name: 'mine' } });
    expect(specOf(toAlpha(both))).not.toHaveProperty('warmpool');
    expect(toBeta(toAlpha(both))).toEqual(both);
  });

  it('keeps v0.5 state out of a claim that v1alpha1 emptied (annotation "{}" overrides it)', () => {
    const state = { spec: { sandboxTemplateRef: { name: 't5' } } };
    const alpha = alphaClaim({}, annotations({ [V05_ANN]: state }));
    const beta = toBeta(alpha);
    expect(annotationsOf(beta)?.[ALPHA_ANN]).toBe('{}');
    expect(toAlpha(beta)).toEqual(alpha);
  });

  it('ignores damaged annotations, with warnings, and still converts', () => {
    const cases: [Json, string][] = [
      [betaClaim({ warmPoolRef: { name: 'p' } }, { annotations: { [ALPHA_ANN]: 'oops' } }), 'not valid JSON'],
      [
        betaClaim({ warmPoolRef: { name: 'p' } }, { annotations: { [ALPHA_ANN]: '"t"' } }),
        'not a JSON object',
      ],
      [betaClaim({ warmPoolRef: { name: 'p' } }, { annotations: { [ALPHA_ANN]: 7 } }), 'not a string'],
      [
        betaClaim({}, annotations({ [ALPHA_ANN]: { sandboxTemplateRef: 't', warmpool: 3 } })),
        'sandboxTemplateRef has no name',
      ],
      [betaClaim({ warmPoolRef: { name: 'p' } }, { annotations: { [V05_ANN]: '{' } }), V05_ANN],
      [alphaClaim(T, { annotations: { [BETA_ANN]: '[1]' } }), 'not a JSON object'],
      [
        alphaClaim(T, annotations({ [BETA_ANN]: { volumeClaimTemplates: vcts, later: true } })),
        'unknown field later',
      ],
      [
        alphaClaim(T, annotations({ [BETA_ANN]: { warmPoolRef: { name: 'plain' } } })),
        'plain pool name; ignored',
      ],
    ];
    for (const [obj, warning] of cases) {
      const to = String(obj.apiVersion).endsWith('v1beta1') ? EXT_A : EXT_B;
      const { object, warnings } = convert(obj, to);
      expect(warnings.join('\n')).toContain(warning);
      expect(object.status).toEqual(obj.status);
    }
    const damaged = convert(
      betaClaim({ warmPoolRef: { name: 'p' } }, { annotations: { [ALPHA_ANN]: 'oops' } }),
      EXT_A,
    ).object;
    expect(specOf(damaged)).toMatchObject({ warmpool: 'p' });
    expect(annotationsOf(damaged)).toBeUndefined();
  });

  it('copies status verbatim, including fields of older shapes (upstream v0.1 "Name")', () => {
    const old = betaClaim({ warmPoolRef: { name: 'p' } });
    old.status = { sandbox: { Name: 'legacy' }, conditions };
    expect(toAlpha(old).status).toEqual(old.status);
    expect(toBeta(toAlpha(old))).toEqual(old);
  });
});

/**
 * The API server's defaults of v1beta1 fields that conversion leaves out rather than annotate
 * (a template's default volumeClaimTemplatesPolicy): the laws hold up to these.
 */
function withBetaDefaults(obj: Json): Json {
  if (obj.kind !== 'SandboxTemplate' || !specOf(obj)) return obj;
  return { ...obj, spec: { volumeClaimTemplatesPolicy: 'Disallowed', ...specOf(obj) } };
}

describe('round-trip laws', () => {
  const alphaFixtures: Json[] = [
    alphaSandbox({ replicas: 0 }),
    alphaSandbox({ replicas: 1, volumeClaimTemplates: vcts, service: true }),
    alphaSandbox(),
    alphaTemplate(),
    alphaTemplate({}, annotations({ [BETA_ANN]: { volumeClaimTemplatesPolicy: 'Overrides' } })),
    pool(EXT_A),
    pool(EXT_A, { replicas: 0 }),
  ];
  const betaFixtures: Json[] = [
    betaSandbox({ operatingMode: 'Suspended' }),
    betaSandbox({ operatingMode: 'Running' }),
    betaTemplate(),
    betaTemplate({ volumeClaimTemplatesPolicy: 'Allowed' }),
    pool(EXT_B),
  ];

  // Generated claims: every combination of the version-specific fields, with and without the rest.
  const templates = [undefined, 't'];
  const policies = [undefined, 'default', 'none', 'pool-a', 'shadow-pool-t'];
  const extras: Json[] = [
    {},
    {
      env: [{ name: 'A', value: '1', containerName: 'main' }],
      additionalPodMetadata: { annotations: { n: 'v' } },
    },
  ];
  for (const template of templates)
    for (const warmpool of policies)
      for (const extra of extras) {
        const spec: Json = { ...extra };
        if (template) spec.sandboxTemplateRef = { name: template };
        if (warmpool) spec.warmpool = warmpool;
        alphaFixtures.push(alphaClaim(spec));
      }
  const refs = [undefined, 'pool-a', 'default', 'none'];
  const v05 = [undefined, { spec: { sandboxTemplateRef: { name: 't5' }, warmpool: 'default' } }];
  for (const ref of refs)
    for (const withVcts of [false, true])
      for (const state of v05)
        for (const extra of extras) {
          const spec: Json = { ...extra };
          if (ref) spec.warmPoolRef = { name: ref };
          if (withVcts) spec.volumeClaimTemplates = vcts;
          betaFixtures.push(betaClaim(spec, state ? annotations({ [V05_ANN]: state }) : {}));
        }
  // v1alpha1 objects as toAlpha leaves them (carrying annotations) are fixtures too.
  for (const b of [...betaFixtures]) alphaFixtures.push(toAlpha(b));
  for (const a of [...alphaFixtures]) betaFixtures.push(toBeta(a));

  it(`toα(toβ(a)) ≡ a for ${alphaFixtures.length} v1alpha1 objects`, () => {
    for (const a of alphaFixtures) expect(toAlpha(toBeta(a))).toEqual(a);
  });

  it(`toβ(toα(b)) ≡ b for ${betaFixtures.length} v1beta1 objects`, () => {
    for (const b of betaFixtures) expect(withBetaDefaults(toBeta(toAlpha(b)))).toEqual(withBetaDefaults(b));
  });

  it('conversions of valid objects give valid objects of the other version (zod of each version)', () => {
    const alphaClaimValid = alphaClaim({ sandboxTemplateRef: { name: 't' }, warmpool: 'none' });
    expect(() => v1beta1.SandboxClaim.parse(toBeta(alphaClaimValid))).not.toThrow();
    const betaClaimValid = betaClaim(
      { warmPoolRef: { name: 'p' } },
      annotations({ [ALPHA_ANN]: { sandboxTemplateRef: { name: 't' } } }),
    );
    expect(() => AlphaClaim.parse(toAlpha(betaClaimValid))).not.toThrow();
    expect(() => v1alpha1.SandboxWarmPool.parse(toAlpha(pool(EXT_B)))).not.toThrow();
    expect(() => v1beta1.Sandbox.parse(toBeta(alphaSandbox({ replicas: 0 })))).not.toThrow();
    expect(() => v1beta1.SandboxTemplate.parse(toBeta(alphaTemplate()))).not.toThrow();
    expect(() => v1beta1.SandboxWarmPool.parse(toBeta(pool(EXT_A)))).not.toThrow();
  });

  it('holds modulo defaults for objects stored without them', () => {
    const beta = pool(EXT_B);
    delete specOf(beta).replicas;
    expect(v1beta1.SandboxWarmPool.parse(toBeta(toAlpha(beta)))).toEqual(v1beta1.SandboxWarmPool.parse(beta));
  });

  it('keeps what the controller acts on: claimIntent(toβ(toα(b))) = claimIntent(b), also for hand-edited claims', () => {
    const edited: Json[] = [
      ...betaFixtures.filter((b) => b.kind === 'SandboxClaim'),
      betaClaim(
        { warmPoolRef: { name: 'pool-b' } },
        annotations({ [ALPHA_ANN]: { sandboxTemplateRef: { name: 't' }, warmpool: 'none' } }),
      ),
      betaClaim({ warmPoolRef: { name: 'default' } }, annotations({ [ALPHA_ANN]: { warmpool: 'pool-x' } })),
      betaClaim({}, annotations({ [ALPHA_ANN]: { sandboxTemplateRef: { name: 't' }, warmpool: 'pool-x' } })),
    ];
    for (const b of edited) {
      const parsed = v1beta1.SandboxClaim.parse(b);
      const again = v1beta1.SandboxClaim.parse(toBeta(toAlpha(b)));
      expect(claimIntent(again)).toEqual(claimIntent(parsed));
    }
  });
});

/**
 * What the API server does to an object it serves in a version: fields the version's structural
 * schema does not declare are dropped (pruning). Metadata, apiVersion and kind are the server's.
 */
function prune(value: unknown, schema: JsonSchema | undefined): unknown {
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] === true) return value;
  if (Array.isArray(value)) return value.map((item) => prune(item, schema.items));
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, field] of Object.entries(value)) {
    const declared = schema.properties?.[key];
    if (declared) out[key] = prune(field, declared);
    else if (typeof schema.additionalProperties === 'object')
      out[key] = prune(field, schema.additionalProperties);
    else if (schema.additionalProperties === true) out[key] = field;
  }
  return out;
}

describe('round trip through what the API server serves as v1alpha1 (pruned by its schema)', () => {
  const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
  const definitions = loadKubernetesDefinitions(
    kubernetesVersion(join(repoRoot, 'e2e', 'cluster', 'versions.env')),
  );
  const alphaSchemaOf = (kind: string): JsonSchema => {
    const pair = crdVersionPairs.find((p) => p.beta.kind === kind);
    if (!pair) throw new Error(`no ${kind}`);
    const versions = renderCrdVersions(pair, definitions).spec.versions as CrdVersionEntry[];
    const alpha = versions.find((v) => v.name === 'v1alpha1');
    if (!alpha) throw new Error(`${kind}: no v1alpha1`);
    return alpha.schema.openAPIV3Schema;
  };
  /** A v1alpha1 read: converted by the webhook, then pruned to the v1alpha1 schema. */
  const servedAsAlpha = (b: Json): Json => {
    const alpha = toAlpha(b);
    const schema = alphaSchemaOf(String(b.kind)).properties;
    const out: Json = { ...alpha };
    for (const part of ['spec', 'status'] as const) {
      if (part in alpha) out[part] = prune(alpha[part], schema?.[part]);
    }
    return out;
  };

  it.each<[string, Json]>([
    ['a pool (status.observedGeneration)', pool(EXT_B)],
    ['a claim (status.sandbox.serviceFQDN)', betaClaim({ warmPoolRef: { name: 'p' } })],
    ['a Sandbox', betaSandbox({ operatingMode: 'Running' })],
    ['a template', betaTemplate({ volumeClaimTemplatesPolicy: 'Allowed' })],
  ])('%s: v1beta1 → v1alpha1 → v1beta1 loses nothing', (_name, b) => {
    expect(withBetaDefaults(toBeta(servedAsAlpha(b)))).toEqual(withBetaDefaults(b));
  });
});
