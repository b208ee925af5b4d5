/**
 * claimIntent: what the controller reads from a v1beta1 claim — the pool, the template and the
 * warm policy — from warmPoolRef and the conversion annotation, or a message naming the field.
 */
import { claimIntent, ConversionAnnotations, v1beta1 } from '@sandbank/api';

const ANN = ConversionAnnotations.v1alpha1Fields;
const V05 = ConversionAnnotations.upstreamV05ClaimState;

function claim(spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return v1beta1.SandboxClaim.parse({
    metadata: { name: 'c', ...(annotations ? { annotations } : {}) },
    spec,
  });
}
const json = (value: unknown) => JSON.stringify(value);

describe('claimIntent', () => {
  it.each([
    ['a v1beta1 claim naming a pool', claim({ warmPoolRef: { name: 'p' } }), { pool: 'p', warm: 'pool' }],
    [
      'a pool literally named "default"',
      claim({ warmPoolRef: { name: 'default' } }),
      { pool: 'default', warm: 'pool' },
    ],
    [
      'a v1alpha1 claim of a template, any pool',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 't' }, warmpool: 'default' }) }),
      { template: 't', warm: 'any' },
    ],
    [
      'a v1alpha1 claim without warmpool (its default)',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 't' } }) }),
      { template: 't', warm: 'any' },
    ],
    [
      'a v1alpha1 claim that is always cold',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 't' }, warmpool: 'none' }) }),
      { template: 't', warm: 'none' },
    ],
    [
      'a v1alpha1 claim of a template and one of its pools',
      claim({ warmPoolRef: { name: 'p' } }, { [ANN]: json({ sandboxTemplateRef: { name: 't' } }) }),
      { pool: 'p', template: 't', warm: 'pool' },
    ],
    [
      'warmPoolRef set by a v1beta1 client over a recorded policy',
      claim(
        { warmPoolRef: { name: 'p2' } },
        { [ANN]: json({ sandboxTemplateRef: { name: 't' }, warmpool: 'none' }) },
      ),
      { pool: 'p2', template: 't', warm: 'pool' },
    ],
    [
      'a damaged annotation beside warmPoolRef (ignored)',
      claim({ warmPoolRef: { name: 'p' } }, { [ANN]: '{oops' }),
      { pool: 'p', warm: 'pool' },
    ],
    [
      'a claim moved from upstream v0.5 (its state annotation)',
      claim(
        { warmPoolRef: { name: 'shadow-pool-t' } },
        { [V05]: json({ spec: { sandboxTemplateRef: { name: 't' } } }) },
      ),
      { pool: 'shadow-pool-t', template: 't', warm: 'pool' },
    ],
    [
      'a recorded pool name without warmPoolRef (as v1alpha1 shows it)',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 't' }, warmpool: 'p' }) }),
      { pool: 'p', template: 't', warm: 'pool' },
    ],
  ])('%s', (_name, input, expected) => {
    expect(claimIntent(input)).toEqual(expected);
  });

  it.each([
    ['no pool and no annotation (a v1beta1 client dropped it)', claim({}), 'spec.warmPoolRef: required'],
    [
      'a recorded policy but no template',
      claim({}, { [ANN]: json({ warmpool: 'none' }) }),
      'spec.warmPoolRef: required',
    ],
    [
      'a damaged annotation and no pool',
      claim({}, { [ANN]: 'not json' }),
      `annotation ${ANN} is not valid JSON`,
    ],
    [
      'a template name that is no DNS-1123 subdomain',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 'Bad_Name' } }) }),
      `metadata.annotations[${ANN}]: sandboxTemplateRef.name "Bad_Name"`,
    ],
    [
      'a recorded warmpool that is no name',
      claim({}, { [ANN]: json({ sandboxTemplateRef: { name: 't' }, warmpool: 'No Pool' }) }),
      `metadata.annotations[${ANN}]: warmpool "No Pool"`,
    ],
    [
      'a bad name in upstream v0.5 state',
      claim({}, { [V05]: json({ spec: { sandboxTemplateRef: { name: '-x-' } } }) }),
      `metadata.annotations[${V05}]: sandboxTemplateRef.name "-x-"`,
    ],
  ])('is invalid for %s, naming the field', (_name, input, message) => {
    const intent = claimIntent(input);
    expect(intent).toHaveProperty('invalid');
    expect('invalid' in intent ? intent.invalid : '').toContain(message);
  });

  it('reads a warmPoolRef that bypassed the schema as invalid rather than trusting it', () => {
    expect(claimIntent({ spec: { warmPoolRef: { name: '../x' } } })).toEqual({
      invalid: 'spec.warmPoolRef.name: "../x" is not a DNS-1123 subdomain',
    });
  });
});
