import { inlineDefinition } from '../../scripts/crd/kubernetes-definitions.js';
import type { Definitions } from '../../scripts/crd/openapi.js';
import { structuralSchema } from '../../scripts/crd/structural.js';
import { z } from 'zod';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const definitions: Definitions = {
  'io.k8s.api.core.v1.PodSpec': {
    type: 'object',
    description: 'dropped',
    required: ['containers'],
    properties: {
      containers: {
        type: 'array',
        items: { allOf: [ref('io.k8s.api.core.v1.Container')], default: {} },
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        'x-kubernetes-patch-strategy': 'merge',
      },
      imagePullSecrets: {
        type: 'array',
        items: { allOf: [ref('io.k8s.api.core.v1.LocalObjectReference')], default: {} },
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      },
      overhead: {
        type: 'object',
        additionalProperties: ref('io.k8s.apimachinery.pkg.api.resource.Quantity'),
      },
    },
  },
  'io.k8s.api.core.v1.Container': {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', default: '' },
      ports: {
        type: 'array',
        items: {
          type: 'object',
          required: ['containerPort'],
          properties: {
            containerPort: { type: 'integer', default: 0 },
            protocol: { type: 'string', default: 'TCP' },
          },
        },
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
      },
      port: ref('io.k8s.apimachinery.pkg.util.intstr.IntOrString'),
    },
  },
  'io.k8s.api.core.v1.LocalObjectReference': {
    type: 'object',
    properties: { name: { type: 'string', default: '' } },
  },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    format: 'int-or-string',
    oneOf: [{ type: 'integer' }, { type: 'string' }],
  },
};

describe('inlineDefinition', () => {
  const podSpec = inlineDefinition('io.k8s.api.core.v1.PodSpec', definitions);
  const container = podSpec.properties?.containers?.items;

  it('inlines references, keeps list semantics and drops patch hints and descriptions', () => {
    expect(podSpec.description).toBeUndefined();
    expect(podSpec.properties?.containers).toMatchObject({
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
    expect(podSpec.properties?.containers).not.toHaveProperty('x-kubernetes-patch-strategy');
    expect(container?.required).toEqual(['name']);
  });

  it('drops Go zero-value defaults but keeps meaningful ones', () => {
    expect(container?.properties?.name).toEqual({ type: 'string' });
    expect(container).not.toHaveProperty('default');
    expect(container?.properties?.ports?.items?.properties?.protocol?.default).toBe('TCP');
  });

  it('gives list-map keys that are neither required nor defaulted their zero value back', () => {
    expect(podSpec.properties?.imagePullSecrets?.items?.properties?.name).toEqual({
      type: 'string',
      default: '',
    });
  });

  it('writes quantities and int-or-string in the CRD form', () => {
    const intOrString = {
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    };
    expect(podSpec.properties?.overhead?.additionalProperties).toEqual(intOrString);
    expect(container?.properties?.port).toEqual(intOrString);
  });

  it('fails clearly on an unknown definition', () => {
    expect(() => inlineDefinition('io.k8s.api.core.v1.Nope', definitions)).toThrow(
      'define no io.k8s.api.core.v1.Nope',
    );
  });
});

describe('structuralSchema', () => {
  it('prunes additionalProperties:false, keeps typed maps, drops date-time patterns, refuses unions', () => {
    const schema = structuralSchema(
      z.strictObject({ when: z.iso.datetime({ offset: true }), tags: z.record(z.string(), z.string()) }),
      definitions,
    );
    expect(schema).not.toHaveProperty('additionalProperties');
    expect(schema.properties?.when).toEqual({ type: 'string', format: 'date-time' });
    expect(schema.properties?.tags?.additionalProperties).toEqual({ type: 'string' });
    expect(() => structuralSchema(z.object({ u: z.union([z.string(), z.number()]) }), definitions)).toThrow(
      'not structural',
    );
  });

  it('swaps a k8sRef-marked node for the inlined Kubernetes definition', () => {
    const schema = structuralSchema(
      z.object({
        spec: z.looseObject({}).meta({ k8sRef: 'io.k8s.api.core.v1.PodSpec' }).describe('The pod.'),
      }),
      definitions,
    );
    expect(schema.properties?.spec?.description).toBe('The pod.');
    expect(schema.properties?.spec?.required).toEqual(['containers']);
  });
});
