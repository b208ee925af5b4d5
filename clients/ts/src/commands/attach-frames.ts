/**
 * The attach stream of a background process (`GET …/processes/{id}/attach`, router/README.md):
 * frames of kind (1 byte), offset (8 bytes, big-endian), payload length (4 bytes, big-endian),
 * payload. Kind 0 `attached` first (JSON), then 1 stdout and 2 stderr chunks at increasing offsets
 * (a gap: bytes the ring dropped), then 3 `exit` (the ExitStatus JSON). Whatever the server sends,
 * the decoder holds at most one frame: a header announcing more than the protocol allows is refused
 * before its payload is read, and a body that ends inside a frame is an error, never a wait.
 *
 * `AttachCursor` is what survives a lost connection: the next offset to ask for.
 */
import { ProtocolError, StreamClosed } from '../errors.js';
import { parseJson } from '../http/request.js';
import { AttachedSchema, ExitStatusSchema } from './wire.js';
import type { ExitStatus, ProcessInfo } from './wire.js';

export const ATTACH_CONTENT_TYPE = 'application/vnd.sandbank.process-output';
const KIND_ATTACHED = 0;
const KIND_STDOUT = 1;
const KIND_STDERR = 2;
const KIND_EXIT = 3;
const HEADER_BYTES = 13;
/** The router never sends a larger output chunk (it cuts an agent that does). */
export const MAX_CHUNK_BYTES = 1 << 20;
/** `attached` and `exit` payloads are small JSON (a command is cut to 256 characters): 64 KiB is ample. */
export const MAX_JSON_PAYLOAD_BYTES = 64 << 10;
/**
 * Connections in a row that may end without a new byte or the exit before the attachment gives up
 * (a router restarting is one; a server that keeps cutting at once is not going to improve).
 */
export const MAX_RESUMES_WITHOUT_PROGRESS = 3;

/** A chunk of a background process's output at its absolute byte `offset`. */
export interface ProcessOutput {
  readonly stream: 'stdout' | 'stderr';
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface Attached {
  readonly startOffset: number;
  readonly bytesDropped: boolean;
  readonly process: ProcessInfo;
}

export type AttachEvent =
  | { readonly kind: 'attached'; readonly attached: Attached }
  | { readonly kind: 'output'; readonly output: ProcessOutput }
  | { readonly kind: 'exit'; readonly endOffset: number; readonly status: ExitStatus };

/** The frames of one attach response. `floor`: no output may start before it (the offset asked for). */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  /** Where the next chunk may start; -1 until `attached`. */
  private next = -1;
  exited = false;

  constructor(private readonly floor: number) {}

  /** Whether part of a frame is held (a silence now is a stall, not a quiet process). */
  get midFrame(): boolean {
    return this.buffer.byteLength > 0;
  }

  /** The complete frames `data` finishes; a partial one waits for the next call. */
  *feed(data: Uint8Array): Generator<AttachEvent> {
    this.buffer = this.buffer.byteLength === 0 ? Buffer.from(data) : Buffer.concat([this.buffer, data]);
    while (this.buffer.byteLength >= HEADER_BYTES) {
      const kind = this.buffer.readUInt8(0);
      const offset = Number(this.buffer.readBigUInt64BE(1));
      const length = this.buffer.readUInt32BE(9);
      this.checkHeader(kind, offset, length);
      if (this.buffer.byteLength < HEADER_BYTES + length) return;
      const payload = Buffer.from(this.buffer.subarray(HEADER_BYTES, HEADER_BYTES + length));
      this.buffer = this.buffer.subarray(HEADER_BYTES + length);
      yield this.event(kind, offset, payload);
    }
  }

  /** The body ended cleanly: throws if it ended inside a frame or before `attached`. */
  end(): void {
    if (this.buffer.byteLength > 0)
      throw new ProtocolError(
        `attach stream: the body ended inside a frame (${this.buffer.byteLength} bytes of it)`,
      );
    if (this.next < 0) throw new ProtocolError('attach stream: the body ended before the attached frame');
  }

  private checkHeader(kind: number, offset: number, length: number): void {
    const where = `attach frame at offset ${offset}`;
    if (this.exited) throw new ProtocolError(`${where}: a frame after exit`);
    if (kind > KIND_EXIT) throw new ProtocolError(`${where}: unknown kind ${kind}`);
    if ((kind === KIND_ATTACHED) !== this.next < 0)
      throw new ProtocolError(
        `${where}: ${kind === KIND_ATTACHED ? 'a second attached frame' : 'before attached'}`,
      );
    const output = kind === KIND_STDOUT || kind === KIND_STDERR;
    const limit = output ? MAX_CHUNK_BYTES : MAX_JSON_PAYLOAD_BYTES;
    if (length > limit)
      throw new ProtocolError(`${where}: a payload of ${length} bytes (at most ${limit} for kind ${kind})`);
    if (!Number.isSafeInteger(offset)) throw new ProtocolError(`${where}: past 2^53 - 1`);
    if (!output) return;
    if (length === 0) throw new ProtocolError(`${where}: an empty output chunk`);
    if (offset < this.next)
      throw new ProtocolError(`${where}: output before offset ${this.next} (offsets go back)`);
    if (!Number.isSafeInteger(offset + length)) throw new ProtocolError(`${where}: past 2^53 - 1`);
  }

  private event(kind: number, offset: number, payload: Buffer): AttachEvent {
    if (kind === KIND_ATTACHED) {
      const attached = parseJson(payload, AttachedSchema, 'attached');
      if (attached.startOffset !== offset || attached.startOffset < this.floor)
        throw new ProtocolError(
          `attached: startOffset ${attached.startOffset} (frame offset ${offset}, asked from ${this.floor})`,
        );
      this.next = attached.startOffset;
      return { kind: 'attached', attached };
    }
    if (kind === KIND_EXIT) {
      if (offset !== this.next)
        throw new ProtocolError(`exit: at offset ${offset}, but the output ended at ${this.next}`);
      this.exited = true;
      return { kind: 'exit', endOffset: offset, status: parseJson(payload, ExitStatusSchema, 'exit') };
    }
    this.next = offset + payload.byteLength;
    return {
      kind: 'output',
      output: { stream: kind === KIND_STDOUT ? 'stdout' : 'stderr', offset, data: payload },
    };
  }
}

/** One attachment across its connections: what to ask for next, what was seen. */
export class AttachCursor {
  /** The offset to ask from on the next connection: one past the last byte received. */
  nextOffset: number;
  attached: Attached | undefined;
  exit: ExitStatus | undefined;
  private connections = 0;
  private stalls = 0;
  private progress = false;

  constructor(
    readonly processId: string,
    fromOffset: number,
    readonly follow: boolean,
  ) {
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0)
      throw new TypeError(`fromOffset: must be an integer from 0 to 2^53 - 1, got ${fromOffset}`);
    this.nextOffset = fromOffset;
  }

  query(): Record<string, string> {
    return { fromOffset: String(this.nextOffset), follow: this.follow ? 'true' : 'false' };
  }

  /** A new connection answered `contentType`: its decoder (no byte before what is held). */
  connect(contentType: string | undefined): FrameDecoder {
    const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== ATTACH_CONTENT_TYPE)
      throw new ProtocolError(
        `attach: the router answered ${contentType ?? 'no content type'}, not the attach stream`,
      );
    const floor = this.connections > 0 ? this.nextOffset : 0;
    this.connections++;
    this.progress = false;
    return new FrameDecoder(floor);
  }

  /** Records `event`; returns the output in it, if any. */
  take(event: AttachEvent): ProcessOutput | undefined {
    switch (event.kind) {
      case 'output':
        this.nextOffset = event.output.offset + event.output.data.byteLength;
        this.progress = true;
        return event.output;
      case 'exit':
        this.exit = event.status;
        this.progress = true;
        return undefined;
      case 'attached':
        this.attached ??= event.attached;
        this.nextOffset = event.attached.startOffset;
        return undefined;
    }
  }

  /**
   * After a connection ended (`cut`: by a transfer error): true when nothing is left to read, false
   * to reconnect from `nextOffset`. Throws StreamClosed after too many connections in a row that
   * brought nothing.
   */
  finished(cut: boolean): boolean {
    if (this.exit || (!this.follow && !cut)) return true;
    this.stalls = this.progress ? 0 : this.stalls + 1;
    if (this.stalls >= MAX_RESUMES_WITHOUT_PROGRESS)
      throw new StreamClosed(
        `the output stream of process ${this.processId} was cut ${this.stalls} times in a row without progress; attach again with fromOffset ${this.nextOffset} to resume`,
      );
    return false;
  }
}
