/** The hand encoder of output frames produces exactly protobuf-es's bytes. */
import { create, ExecResponseSchema, ExecServiceDefinition } from '@sandbank/proto';
import { createOutputFrameEncoder, fastExecServiceDefinition } from '../../src/services/exec-codec.js';

const generic = ExecServiceDefinition.exec.responseSerialize;

it.each([0, 1, 127, 128, 300, 16_383, 16_384, 65_536, 2_097_152])(
  'encodes %i bytes of stdout and stderr like protobuf-es',
  (size) => {
    const encode = createOutputFrameEncoder();
    const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) % 256);
    for (const stream of ['stdout', 'stderr'] as const) {
      const message = create(ExecResponseSchema, { event: { case: stream, value: data } });
      expect(encode(message)).toEqual(Buffer.from(generic(message)));
    }
  },
);

it('leaves other frames to the generic encoder, and the definition round-trips them', () => {
  const encode = createOutputFrameEncoder();
  const exit = { event: { case: 'exit' as const, value: { exitCode: 3, durationMs: 12 } } };
  expect(encode(exit)).toBeUndefined();
  const fast = fastExecServiceDefinition().exec;
  const decoded = fast.responseDeserialize(fast.responseSerialize(exit));
  expect(decoded.event).toMatchObject({ case: 'exit', value: { exitCode: 3, durationMs: 12 } });
  const started = { event: { case: 'started' as const, value: { pid: 42 } } };
  expect(Buffer.from(fast.responseSerialize(started))).toEqual(Buffer.from(generic(started)));
});
