/**
 * An AttachProcess stream as the agent sends it, checked frame by frame before any byte reaches
 * the caller. The offsets are what a caller resumes from after a lost connection, so a hostile or
 * broken agent must not be able to make the router print offsets that go backwards, overlap,
 * start elsewhere than the caller asked (repeating bytes it has, or skipping some unannounced), or
 * leave JSON's exact range, nor frames the router would have to hold whole: each violation ends
 * the stream as the agent's failure (upstream_failed). The HTTP route and the gRPC passthrough
 * use the same checker.
 *
 * The order is the protocol's (processes.proto): `attached` once and first, `output` chunks at
 * increasing offsets (a gap is bytes the ring dropped), `exit` at most once and last. With
 * `follow` the stream must end with `exit`; a stream that ends without one ends the caller's
 * response as failed, so a client knows to reattach rather than believe it saw everything.
 */
import { OutputStream } from '@sandbank/proto';
import type { AttachProcessResponse } from '@sandbank/proto';
import { RouterError } from '../errors.js';
import type { ExitJson } from '../exec-spec.js';
import { exitStatusJson, processJson } from './process-info.js';
import type { ProcessJson } from './process-info.js';

/**
 * The largest output chunk taken from the agent. It reads 64 KiB at a time; the bound keeps what
 * one frame costs the router small whatever the gRPC message limit is.
 */
export const MAX_OUTPUT_CHUNK_BYTES = 1024 * 1024;
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export type AttachEvent =
  | {
      readonly kind: 'attached';
      readonly startOffset: number;
      readonly bytesDropped: boolean;
      readonly process: ProcessJson;
    }
  | { readonly kind: 'output'; readonly offset: number; readonly stream: 1 | 2; readonly data: Uint8Array }
  | { readonly kind: 'exit'; readonly endOffset: number; readonly exit: ExitJson };

function broken(message: string): RouterError {
  return new RouterError('upstream_failed', `the sandbox agent broke the attach protocol: ${message}`);
}

/** What the caller asked the agent for (AttachProcessRequest's fields). */
export interface AttachRequest {
  readonly id: string;
  readonly fromOffset: bigint;
  readonly follow: boolean;
}

/**
 * Where the agent must start for `fromOffset` (processes.proto, `Attached`): at the first
 * retained byte when older bytes are gone, at the end when it asks past it. A start anywhere else
 * would repeat bytes a resuming caller has, or skip bytes without saying so.
 */
function expectedStart(fromOffset: bigint, process: ProcessJson): number {
  const from = fromOffset > BigInt(MAX_OFFSET) ? MAX_OFFSET : Number(fromOffset);
  return Math.min(Math.max(from, process.firstOffset), process.endOffset);
}

/** The protocol's state over one attach stream: each frame checked in order, then its end. */
export class AttachChecker {
  /** Where the next chunk may start: the end of the previous one (or of the start). */
  private next = -1;
  private exited = false;

  constructor(private readonly request: AttachRequest) {}

  /** The frame as an event; throws upstream_failed when it breaks the protocol. */
  check(frame: AttachProcessResponse): AttachEvent {
    if (this.exited) throw broken('a frame after exit');
    const event = frame.event;
    switch (event.case) {
      case 'attached': {
        if (this.next >= 0) throw broken('a second attached frame');
        const process = processJson(event.value.process, this.request.id);
        const start = event.value.startOffset;
        if (start > BigInt(MAX_OFFSET)) throw broken('startOffset past 2^53 - 1');
        const startOffset = Number(start);
        const expected = expectedStart(this.request.fromOffset, process);
        if (startOffset !== expected) {
          throw broken(
            `startOffset ${startOffset} where fromOffset ${this.request.fromOffset} and the retained bytes ` +
              `[${process.firstOffset}, ${process.endOffset}] make it ${expected}`,
          );
        }
        const bytesDropped = this.request.fromOffset < BigInt(process.firstOffset);
        if (event.value.bytesDropped !== bytesDropped) {
          throw broken(
            `bytesDropped ${String(event.value.bytesDropped)} where it is ${String(bytesDropped)}`,
          );
        }
        this.next = startOffset;
        return { kind: 'attached', startOffset, bytesDropped, process };
      }
      case 'output': {
        if (this.next < 0) throw broken('output before attached');
        const { offset, stream, data } = event.value;
        if (stream !== OutputStream.STDOUT && stream !== OutputStream.STDERR) {
          throw broken(`output stream ${String(stream)} is neither stdout nor stderr`);
        }
        if (data.length === 0) throw broken('an empty output chunk');
        if (data.length > MAX_OUTPUT_CHUNK_BYTES) {
          throw broken(`an output chunk of ${data.length} bytes (at most ${MAX_OUTPUT_CHUNK_BYTES})`);
        }
        if (offset < BigInt(this.next)) {
          throw broken(`output at offset ${offset} before ${this.next} (offsets go back)`);
        }
        if (offset + BigInt(data.length) > BigInt(MAX_OFFSET)) throw broken('an offset past 2^53 - 1');
        const at = Number(offset);
        this.next = at + data.length;
        return { kind: 'output', offset: at, stream: stream === OutputStream.STDOUT ? 1 : 2, data };
      }
      case 'exit':
        if (this.next < 0) throw broken('exit before attached');
        this.exited = true;
        return { kind: 'exit', endOffset: this.next, exit: exitStatusJson(event.value) };
      case undefined:
        throw broken('a frame with no event');
    }
  }

  /** The stream ended OK: throws upstream_failed when it ended too early. */
  finish(): void {
    if (this.next < 0) throw broken('the stream ended before attached');
    if (this.request.follow && !this.exited) throw broken('a followed stream ended before the exit frame');
  }
}

export async function* checkedAttach(
  frames: AsyncIterable<AttachProcessResponse>,
  request: AttachRequest,
): AsyncGenerator<AttachEvent> {
  const checker = new AttachChecker(request);
  for await (const frame of frames) yield checker.check(frame);
  checker.finish();
}

/** The attach response's media type: a sequence of frames (encodeFrame). */
export const ATTACH_CONTENT_TYPE = 'application/vnd.sandbank.process-output';

/** The caller's frame kinds (README, OpenAPI): output frames use the stream numbers 1 and 2. */
export const FRAME_ATTACHED = 0;
export const FRAME_EXIT = 3;
/** kind (1) + offset (8, big-endian) + payload length (4, big-endian). */
export const FRAME_HEADER_BYTES = 13;

/** One frame of the attach response body. */
export function encodeFrame(kind: number, offset: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt8(kind, 0);
  frame.writeBigUInt64BE(BigInt(offset), 1);
  frame.writeUInt32BE(payload.length, 9);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeEvent(event: AttachEvent): Buffer {
  switch (event.kind) {
    case 'attached':
      return encodeFrame(
        FRAME_ATTACHED,
        event.startOffset,
        Buffer.from(
          JSON.stringify({
            startOffset: event.startOffset,
            bytesDropped: event.bytesDropped,
            process: event.process,
          }),
        ),
      );
    case 'output':
      return encodeFrame(event.stream, event.offset, event.data);
    case 'exit':
      return encodeFrame(FRAME_EXIT, event.endOffset, Buffer.from(JSON.stringify(event.exit)));
  }
}
