/**
 * ProcessService for grpc-js with a faster encoder for AttachProcess's output frames, for the
 * reason exec-codec.ts gives: every buffer allocated per frame of a long stream is GC work, and
 * grpc-js copies a serialized message into its own framed buffer at once, so `output` frames can
 * be encoded by hand into one reused buffer. The bytes are protobuf-es's (fields in number
 * order, zero values omitted); a unit test compares them. Every other frame and rpc goes through
 * the generic encoder.
 */
import { ProcessServiceDefinition } from '@sandbank/proto';
import type { AttachProcessResponse } from '@sandbank/proto';
import { varintSize, writeVarint } from './varint.js';

/** AttachProcessResponse.output (field 2) and OutputChunk's offset (1), stream (2), data (3). */
const TAG_OUTPUT = (2 << 3) | 2;
const TAG_OFFSET = (1 << 3) | 0;
const TAG_STREAM = (2 << 3) | 0;
const TAG_DATA = (3 << 3) | 2;

type Serialize = (typeof ProcessServiceDefinition)['attachProcess']['responseSerialize'];
type ResponseInit = Parameters<Serialize>[0];

/** Encodes output frames into a buffer reused across calls; returns undefined for other frames. */
export function createAttachOutputEncoder(): (message: ResponseInit) => Buffer | undefined {
  let scratch = Buffer.allocUnsafe(64 * 1024 + 32);
  return (message) => {
    const event = (message as Partial<AttachProcessResponse>).event;
    if (!event || event.case !== 'output') return undefined;
    const offset = Number(event.value.offset ?? 0n);
    const stream: number = event.value.stream ?? 0;
    const data = event.value.data ?? new Uint8Array(0);
    // Offsets are exact below 2^53 (exec.proto); beyond that, protobuf-es encodes them.
    if (!Number.isSafeInteger(offset) || offset < 0) return undefined;
    const inner =
      (offset === 0 ? 0 : 1 + varintSize(offset)) +
      (stream === 0 ? 0 : 1 + varintSize(stream)) +
      (data.length === 0 ? 0 : 1 + varintSize(data.length) + data.length);
    const size = 1 + varintSize(inner) + inner;
    if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
    let at = 0;
    scratch[at++] = TAG_OUTPUT;
    at = writeVarint(scratch, at, inner);
    if (offset !== 0) {
      scratch[at++] = TAG_OFFSET;
      at = writeVarint(scratch, at, offset);
    }
    if (stream !== 0) {
      scratch[at++] = TAG_STREAM;
      at = writeVarint(scratch, at, stream);
    }
    if (data.length !== 0) {
      scratch[at++] = TAG_DATA;
      at = writeVarint(scratch, at, data.length);
      scratch.set(data, at);
      at += data.length;
    }
    return scratch.subarray(0, at);
  };
}

/** ProcessServiceDefinition with the output frame encoder in front of the generic one. */
export function fastProcessServiceDefinition(): typeof ProcessServiceDefinition {
  const generic = ProcessServiceDefinition.attachProcess.responseSerialize;
  const encodeOutput = createAttachOutputEncoder();
  const responseSerialize: Serialize = (message) => encodeOutput(message) ?? generic(message);
  return {
    ...ProcessServiceDefinition,
    attachProcess: { ...ProcessServiceDefinition.attachProcess, responseSerialize },
  };
}
