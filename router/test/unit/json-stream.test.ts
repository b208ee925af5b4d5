/**
 * A buffered exec's output is JSON-encoded piece by piece (http/json-stream.ts) so the escaped
 * text is never held whole; the pieces must join to exactly what encoding the whole string gives,
 * whatever the bytes: invalid UTF-8, multi-byte characters and `\r\n` split across pieces.
 */
import fc from 'fast-check';
import { pyText } from '@sandbank/proto';
import { jsonLength, jsonStringPieces } from '../../src/http/json-stream.js';
import type { TextValue } from '../../src/http/json-stream.js';

const PIECE = 15 * 1024;

/** Bytes of any length up to three pieces, made of a short random pattern (cheap to generate). */
const output = fc
  .tuple(
    fc.uint8Array({ minLength: 1, maxLength: 7 }),
    fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: PIECE - 8, max: PIECE + 8 }),
      fc.integer({ min: 3 * PIECE - 8, max: 3 * PIECE + 8 }),
    ),
    fc.constantFrom(
      Buffer.from([]),
      Buffer.from('\r\n'),
      Buffer.from('€'),
      Buffer.from([0xf0, 0x9f, 0x98]),
      Buffer.from([0]),
    ),
  )
  .map(([pattern, length, tail]) => {
    const bytes = Buffer.alloc(length + tail.length);
    for (let i = 0; i < length; i++) bytes[i] = pattern[i % pattern.length] ?? 0;
    tail.copy(bytes, length);
    return new Uint8Array(bytes);
  });

const joined = (value: TextValue): string => [...jsonStringPieces(value)].join('');

test('utf8 pieces join to JSON.stringify of the whole decoded text (1,000 generated outputs)', () => {
  fc.assert(
    fc.property(output, (bytes) => {
      const whole = JSON.stringify(Buffer.from(bytes).toString('utf8'));
      expect(joined({ bytes, encoding: 'utf8' })).toBe(whole);
      expect(jsonLength([{ bytes, encoding: 'utf8' }])).toBe(Buffer.byteLength(whole));
    }),
    { numRuns: 1_000, seed: 16 },
  );
});

test("universal newlines match the python-runtime's text-mode output (1,000 generated outputs)", () => {
  fc.assert(
    fc.property(output, (bytes) => {
      expect(joined({ bytes, encoding: 'utf8', universalNewlines: true })).toBe(
        JSON.stringify(pyText(bytes)),
      );
    }),
    { numRuns: 1_000, seed: 17 },
  );
});

test('a \\r at the end of one piece and \\n at the start of the next are one newline', () => {
  const bytes = Buffer.concat([Buffer.alloc(PIECE - 1, 0x61), Buffer.from('\r\n\r'), Buffer.from('x\r')]);
  expect(joined({ bytes, encoding: 'utf8', universalNewlines: true })).toBe(
    JSON.stringify(`${'a'.repeat(PIECE - 1)}\n\nx\n`),
  );
});

test('base64 pieces join to the whole base64 (1,000 generated outputs)', () => {
  fc.assert(
    fc.property(output, (bytes) => {
      expect(joined({ bytes, encoding: 'base64' })).toBe(
        JSON.stringify(Buffer.from(bytes).toString('base64')),
      );
    }),
    { numRuns: 1_000, seed: 18 },
  );
});

test('a document of literal JSON and values has the length of its bytes', () => {
  const value: TextValue = { bytes: Buffer.from('é\u0000"'), encoding: 'utf8' };
  expect(jsonLength(['{"a":', value, '}'])).toBe(Buffer.byteLength('{"a":"é\\u0000\\""}'));
});
