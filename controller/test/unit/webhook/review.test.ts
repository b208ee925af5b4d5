// The ConversionReview handler: uid echoed, objects converted in order, Failure only for a review
// that does not parse (naming the field) or an object the converter gives up on (naming it).
import { relabel } from './relabel.js';
import { handleConversionReview, versionLabel, type Converter } from '../../../src/webhook/review.js';

const obj = (name: string, apiVersion = 'conversion-test.sandbank.dev/v1', extra: object = {}) => ({
  apiVersion,
  kind: 'Gadget',
  metadata: { name, namespace: 'ns', uid: `uid-${name}` },
  spec: { size: 3 },
  ...extra,
});

const review = (objects: unknown[], desiredAPIVersion = 'conversion-test.sandbank.dev/v2') => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'ConversionReview',
  request: { uid: 'req-1', desiredAPIVersion, objects },
});

/** v1 {size} ↔ v2 {dimension}: enough to see that each object went through the converter. */
const gadgets: Converter = (o, desired) => {
  const g = o as { spec: Record<string, unknown> } & Record<string, unknown>;
  const spec = desired.endsWith('/v2') ? { dimension: g.spec['size'] } : { size: g.spec['dimension'] };
  return { ok: true, object: { ...g, apiVersion: desired, spec }, warnings: ['looked at it'] };
};

describe('handleConversionReview', () => {
  it('converts every object in order and echoes the uid', () => {
    const out = handleConversionReview(review([obj('a'), obj('b'), obj('c')]), gadgets);
    expect(out.result).toBe('success');
    expect(out.review).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: { uid: 'req-1', result: { status: 'Success' } },
    });
    const converted = out.review.response.convertedObjects as ReturnType<typeof obj>[];
    expect(converted.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(converted.every((o) => o.apiVersion === 'conversion-test.sandbank.dev/v2')).toBe(true);
    expect(converted[0]?.spec).toEqual({ dimension: 3 });
    expect({ from: out.from, to: out.to }).toEqual({ from: 'v1', to: 'v2' });
    expect(out.warnings[0]).toMatch(/^objects\[0\] \(Gadget ns\/a, .*\): looked at it$/);
  });

  it('answers an empty request with Success and no objects', () => {
    const out = handleConversionReview(review([]), gadgets);
    expect(out.review.response).toEqual({
      uid: 'req-1',
      convertedObjects: [],
      result: { status: 'Success' },
    });
    expect(out.from).toBe('none');
  });

  it('labels a review of objects in several versions as mixed', () => {
    const out = handleConversionReview(
      review([obj('a'), obj('b', 'conversion-test.sandbank.dev/v2')], 'conversion-test.sandbank.dev/v1'),
      relabel,
    );
    expect(out.from).toBe('mixed');
    expect(out.result).toBe('success');
  });

  it.each([
    ['no request', { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview' }, /request/],
    ['a v1beta1 review', { ...review([]), apiVersion: 'apiextensions.k8s.io/v1beta1' }, /apiVersion/],
    ['no uid', { ...review([]), request: { desiredAPIVersion: 'a.b/v1', objects: [] } }, /request\.uid/],
    ['a bad desired version', review([], 'v1; drop'), /request\.desiredAPIVersion: must be group\/version/],
    ['an object without kind', review([{ apiVersion: 'a.b/v1', metadata: {} }]), /request\.objects\.0\.kind/],
    ['not an object', 'hello', /\(review\)/],
  ])('fails %s, naming the field', (_what, body, field) => {
    const out = handleConversionReview(body, gadgets);
    expect(out.result).toBe('invalid');
    expect(out.review.response.result.status).toBe('Failure');
    expect(out.review.response.convertedObjects).toEqual([]);
    expect((out.review.response.result as { message: string }).message).toMatch(field);
  });

  it('still echoes the uid of a review that does not parse', () => {
    const out = handleConversionReview({ request: { uid: 'req-9' } }, gadgets);
    expect(out.review.response.uid).toBe('req-9');
  });

  it('fails the review naming the object the converter gave up on', () => {
    const picky: Converter = (o, desired) =>
      (o as { metadata: { name: string } }).metadata.name === 'b'
        ? { ok: false, message: 'spec.size: not a number' }
        : relabel(o, desired);
    const out = handleConversionReview(review([obj('a'), obj('b')]), picky);
    expect(out.result).toBe('failed');
    expect(out.review.response).toEqual({
      uid: 'req-1',
      convertedObjects: [],
      result: {
        status: 'Failure',
        message:
          'objects[1] (Gadget ns/b, conversion-test.sandbank.dev/v1): cannot convert to conversion-test.sandbank.dev/v2: spec.size: not a number',
      },
    });
  });

  it('turns a converter that throws into a Failure naming the object', () => {
    const out = handleConversionReview(review([obj('a')]), () => {
      throw new Error('boom');
    });
    expect(out.result).toBe('failed');
    expect(out.review.response.result).toEqual({
      status: 'Failure',
      message: expect.stringMatching(/^objects\[0\] \(Gadget ns\/a, .*\): conversion to .* threw: boom$/),
    });
  });

  it.each([
    [
      'keeps the old apiVersion',
      (o: unknown) => ({ ok: true as const, object: o }),
      /returned apiVersion .*\/v1, not/,
    ],
    [
      'changes the uid',
      (o: unknown, d: string) => ({
        ok: true as const,
        object: { ...(o as object), apiVersion: d, metadata: { name: 'a', uid: 'other' } },
      }),
      /changed the object's kind or uid/,
    ],
    ['returns no object', () => ({ ok: true as const, object: 'x' }), /returned no object/],
  ])('refuses a converter that %s', (_what, bad, message) => {
    const out = handleConversionReview(review([obj('a')]), bad);
    expect(out.result).toBe('failed');
    expect((out.review.response.result as { message: string }).message).toMatch(message);
  });
});

describe('versionLabel', () => {
  it.each([
    ['agents.x-k8s.io/v1beta1', 'v1beta1'],
    ['agents.x-k8s.io/v1alpha1', 'v1alpha1'],
    ['v1', 'v1'],
    ['agents.x-k8s.io/whatever-an-attacker-sends', 'unknown'],
    [42, 'unknown'],
  ])('%s → %s', (input, label) => expect(versionLabel(input)).toBe(label));
});
