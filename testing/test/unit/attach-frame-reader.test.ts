import { AttachFrameReader } from '../../src/attach-frames.js';

/** kind (1) + offset (8, big-endian) + payload length (4, big-endian) + payload, as the router writes them. */
function frame(kind: number, offset: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt8(kind, 0);
  header.writeBigUInt64BE(BigInt(offset), 1);
  header.writeUInt32BE(payload.length, 9);
  return Buffer.concat([header, payload]);
}

const attached = Buffer.from('{"startOffset":0}');
const exit = Buffer.from('{"exitCode":0}');
const body = Buffer.concat([
  frame(0, 0, attached),
  frame(1, 0, Buffer.from('hello ')),
  frame(2, 6, Buffer.from('err')),
  frame(1, 9, Buffer.from('world')),
  frame(3, 14, exit),
]);

function read(chunks: Buffer[]): { output: [number, string][]; control: [number, number, string][] } {
  const output: [number, string][] = [];
  const control: [number, number, string][] = [];
  const reader = new AttachFrameReader(
    (offset, data) => output.push([offset, data.toString()]),
    (kind, offset, payload) => control.push([kind, offset, payload.toString()]),
  );
  for (const chunk of chunks) reader.push(chunk);
  return { output, control };
}

/** Output pieces joined per frame start: split frames arrive as several views with rising offsets. */
function joined(output: [number, string][]): string {
  let next = 0;
  let text = '';
  for (const [offset, piece] of output) {
    expect(offset).toBe(next);
    next += piece.length;
    text += piece;
  }
  return text;
}

describe('AttachFrameReader', () => {
  it('splits a whole body into output and control frames', () => {
    const { output, control } = read([body]);
    expect(output).toEqual([
      [0, 'hello '],
      [6, 'err'],
      [9, 'world'],
    ]);
    expect(control).toEqual([
      [0, 0, '{"startOffset":0}'],
      [3, 14, '{"exitCode":0}'],
    ]);
  });

  it('reads the same frames when the body arrives a byte at a time (headers and payloads split)', () => {
    const bytes = [...body].map((b) => Buffer.of(b));
    const { output, control } = read(bytes);
    expect(joined(output)).toBe('hello errworld');
    expect(control).toEqual([
      [0, 0, '{"startOffset":0}'],
      [3, 14, '{"exitCode":0}'],
    ]);
  });

  it('reads an empty control payload, and frames split at every point of the body', () => {
    const withEmpty = Buffer.concat([frame(0, 0, Buffer.alloc(0)), body.subarray(13 + attached.length)]);
    for (let cut = 1; cut < withEmpty.length; cut++) {
      const { output, control } = read([withEmpty.subarray(0, cut), withEmpty.subarray(cut)]);
      expect(joined(output)).toBe('hello errworld');
      expect(control).toEqual([
        [0, 0, ''],
        [3, 14, '{"exitCode":0}'],
      ]);
    }
  });

  it('refuses a frame that announces more than 2 MiB', () => {
    const header = Buffer.alloc(13);
    header.writeUInt8(1, 0);
    header.writeUInt32BE(2 * 1024 * 1024 + 1, 9);
    expect(() => read([header])).toThrow('frame payload of 2097153 bytes');
  });
});
