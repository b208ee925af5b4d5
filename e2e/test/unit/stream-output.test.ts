// The cluster suite's exec output stream: text decoded across frame boundaries, bytes as sent.
import { StreamOutput } from '../cluster/stream-output.js';

test('a character split across frames is decoded whole once its last byte arrives', () => {
  const out = new StreamOutput();
  const bytes = Buffer.from('a✓b€', 'utf8'); // ✓ and € are 3 bytes each
  out.push(bytes.subarray(0, 2)); // 'a' and the first byte of ✓
  expect(out.text()).toBe('a');
  out.push(bytes.subarray(2, 3));
  expect(out.text()).toBe('a');
  out.push(bytes.subarray(3, 6)); // the rest of ✓, 'b', the first byte of €
  expect(out.text()).toBe('a✓b');
  out.push(bytes.subarray(6));
  expect(out.text()).toBe('a✓b€');
  expect(out.bytes().equals(bytes)).toBe(true);
});

test('bytes that are no UTF-8 are U+FFFD in the text and kept as they are in the bytes', () => {
  const out = new StreamOutput();
  const bytes = Buffer.from([0x61, 0xff, 0x62]);
  out.push(bytes);
  expect(out.text()).toBe('a\uFFFDb');
  expect(out.bytes().equals(bytes)).toBe(true);
});
