/** The hand encoder of AttachProcess output frames produces exactly protobuf-es's bytes. */
import { create, AttachProcessResponseSchema, OutputStream, ProcessServiceDefinition } from '@sandbank/proto';
import { createAttachOutputEncoder, fastProcessServiceDefinition } from '../../src/services/process-codec.js';

const generic = ProcessServiceDefinition.attachProcess.responseSerialize;

const OFFSETS = [0, 1, 127, 128, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1];
const SIZES = [0, 1, 127, 128, 16_384, 65_536, 2_097_152];

it.each(SIZES)('encodes %i bytes at every offset and stream like protobuf-es', (size) => {
  const encode = createAttachOutputEncoder();
  const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) % 256);
  for (const offset of OFFSETS) {
    for (const stream of [OutputStream.UNSPECIFIED, OutputStream.STDOUT, OutputStream.STDERR]) {
      const message = create(AttachProcessResponseSchema, {
        event: { case: 'output', value: { offset: BigInt(offset), stream, data } },
      });
      const fast = encode(message);
      const reference = Buffer.from(generic(message));
      // Buffer.equals, not a deep comparison: jest compares byte by byte, for minutes at 2 MiB.
      expect({ offset, stream, same: fast?.equals(reference) }).toEqual({ offset, stream, same: true });
    }
  }
});

it('leaves offsets past 2^53 and other frames to the generic encoder, and round-trips them', () => {
  const encode = createAttachOutputEncoder();
  const huge = {
    event: { case: 'output' as const, value: { offset: 2n ** 60n, data: new Uint8Array([1]) } },
  };
  expect(encode(huge)).toBeUndefined();
  const exit = { event: { case: 'exit' as const, value: { exitCode: 3, durationMs: 12 } } };
  expect(encode(exit)).toBeUndefined();
  const fast = fastProcessServiceDefinition().attachProcess;
  expect(fast.responseDeserialize(fast.responseSerialize(huge)).event).toMatchObject({
    case: 'output',
    value: { offset: 2n ** 60n },
  });
  expect(fast.responseDeserialize(fast.responseSerialize(exit)).event).toMatchObject({
    case: 'exit',
    value: { exitCode: 3, durationMs: 12 },
  });
  const attached = { event: { case: 'attached' as const, value: { startOffset: 5n, bytesDropped: true } } };
  expect(Buffer.from(fast.responseSerialize(attached))).toEqual(Buffer.from(generic(attached)));
});
