/**
 * ExecService for grpc-js with a faster encoder for the frames that carry output.
 *
 * Streaming a process's output allocates for every frame: Node's pipe read, protobuf-es's
 * encoding, grpc-js's framing. Those ArrayBuffers are external memory to V8, and churning
 * gigabytes of them makes V8 run a full mark-compact every few dozen megabytes (measured: ~150
 * full GCs and ~3 s of GC per GiB streamed). grpc-js copies a serialized message into its own
 * framed buffer at once (`serializeMessage`), so `stdout`/`stderr` frames can be encoded by hand
 * into one reused buffer: one allocation per frame fewer, the same bytes on the wire (a unit
 * test compares them with protobuf-es). Every other frame goes through the generic encoder.
 */
import { ExecServiceDefinition } from '@sandbank/proto';
import type { ExecResponse } from '@sandbank/proto';
import { varintSize, writeVarint } from './varint.js';

/** Wire tags of ExecResponse.stdout (field 2) and .stderr (field 3), length-delimited. */
const TAG = { stdout: (2 << 3) | 2, stderr: (3 << 3) | 2 } as const;

type Serialize = (typeof ExecServiceDefinition)['exec']['responseSerialize'];
type ResponseInit = Parameters<Serialize>[0];

/** Encodes output frames into a buffer reused across calls; returns undefined for other frames. */
export function createOutputFrameEncoder(): (message: ResponseInit) => Buffer | undefined {
  let scratch = Buffer.allocUnsafe(64 * 1024 + 16);
  return (message) => {
    const event = (message as Partial<ExecResponse>).event;
    if (!event || (event.case !== 'stdout' && event.case !== 'stderr')) return undefined;
    const data = event.value;
    const length = data.byteLength;
    const size = 1 + varintSize(length) + length;
    if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
    scratch[0] = TAG[event.case];
    scratch.set(data, writeVarint(scratch, 1, length));
    return scratch.subarray(0, size);
  };
}

/** ExecServiceDefinition with the output frame encoder in front of the generic one. */
export function fastExecServiceDefinition(): typeof ExecServiceDefinition {
  const generic = ExecServiceDefinition.exec.responseSerialize;
  const encodeOutput = createOutputFrameEncoder();
  const responseSerialize: Serialize = (message) => encodeOutput(message) ?? generic(message);
  return { ...ExecServiceDefinition, exec: { ...ExecServiceDefinition.exec, responseSerialize } };
}
