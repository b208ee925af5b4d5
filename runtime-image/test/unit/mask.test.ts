/** Secret masking on a chunked byte stream. */
import { SecretMasker } from '../../src/process/mask.js';

function maskAll(secrets: string[], chunks: string[]): string {
  const masker = new SecretMasker(secrets);
  return chunks.map((c) => masker.push(Buffer.from(c)).toString()).join('') + masker.flush().toString();
}

it.each([
  [['secret'], ['my secret is secret'], 'my *** is ***'],
  [['secret'], ['sec', 'r', 'et!'], '***!'],
  [['secret'], ['secre', 'x secret'], 'secrex ***'],
  [['abc', 'abcdef'], ['abcdef abc'], '*** ***'],
  [['aa'], ['aaa'], '***a'],
  [['tail'], ['ends with ta'], 'ends with ta'],
  [[''], ['nothing to hide'], 'nothing to hide'],
  [['ünï'], ['x ü', 'nï y'], 'x *** y'],
])('masks %j in %j', (secrets, chunks, expected) => {
  expect(maskAll(secrets, chunks)).toBe(expected);
});

it('holds back only what could still become a secret', () => {
  const masker = new SecretMasker(['password']);
  expect(masker.push(Buffer.from('hello pass')).toString()).toBe('hello ');
  expect(masker.push(Buffer.from('port')).toString()).toBe('passport');
  expect(masker.flush().toString()).toBe('');
});
