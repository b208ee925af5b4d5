/**
 * The body of `GET …/processes/{id}/attach` (application/vnd.sandbank.process-output): frames of
 * kind (1 byte), offset (8 bytes, big-endian), payload length (4 bytes, big-endian), payload.
 * Two readers: `splitFrames` for tests (whole frames, payloads copied), `AttachFrameReader` for
 * benchmarks (output passed on as views into the chunks as they arrive, nothing joined).
 */

/** kind (1) + offset (8) + payload length (4). */
const FRAME_HEADER_BYTES = 13;
export const FrameKind = { attached: 0, stdout: 1, stderr: 2, exit: 3 } as const;

const isOutput = (kind: number): boolean => kind === FrameKind.stdout || kind === FrameKind.stderr;

export interface AttachFrame {
  /** 0 attached, 1 stdout, 2 stderr, 3 exit. */
  readonly kind: number;
  readonly offset: number;
  readonly payload: Buffer;
}

/** Splits whole frames off the front of `buf` onto `out`; returns what is left (a partial frame). */
export function splitFrames(buf: Buffer, out: AttachFrame[]): Buffer {
  let rest = buf;
  while (rest.length >= FRAME_HEADER_BYTES) {
    const len = rest.readUInt32BE(9);
    if (rest.length < FRAME_HEADER_BYTES + len) break;
    out.push({
      kind: rest.readUInt8(0),
      offset: Number(rest.readBigUInt64BE(1)),
      payload: Buffer.from(rest.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len)),
    });
    rest = rest.subarray(FRAME_HEADER_BYTES + len);
  }
  return rest;
}

/** The output bytes of the frames (stdout and stderr), in order, as UTF-8. */
export function outputOf(frames: readonly AttachFrame[]): string {
  return Buffer.concat(frames.filter((f) => isOutput(f.kind)).map((f) => f.payload)).toString('utf8');
}

/** Payload bytes of one frame at most: the router's 1 MiB chunks, with room for a JSON payload. */
const MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;

/**
 * Splits an attach body into frames as chunks arrive: output payloads are passed on as views
 * into the chunks (never copied or joined), other payloads are collected (small JSON). A frame
 * announcing more than MAX_PAYLOAD_BYTES throws.
 */
export class AttachFrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private kind = 0;
  private offset = 0;
  private left = 0;
  private control: Buffer[] = [];

  constructor(
    private readonly onOutput: (offset: number, data: Buffer) => void,
    private readonly onControl: (kind: number, offset: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.headerFill < FRAME_HEADER_BYTES) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        this.kind = this.header.readUInt8(0);
        this.offset = Number(this.header.readBigUInt64BE(1));
        this.left = this.header.readUInt32BE(9);
        if (this.left > MAX_PAYLOAD_BYTES) throw new Error(`frame payload of ${this.left} bytes`);
        if (this.left === 0) this.endFrame();
        continue;
      }
      const n = Math.min(this.left, chunk.length - at);
      const part = chunk.subarray(at, at + n);
      if (isOutput(this.kind)) {
        this.onOutput(this.offset, part);
        this.offset += n;
      } else {
        this.control.push(part);
      }
      this.left -= n;
      at += n;
      if (this.left === 0) this.endFrame();
    }
  }

  private endFrame(): void {
    if (!isOutput(this.kind)) this.onControl(this.kind, this.offset, Buffer.concat(this.control));
    this.control = [];
    this.headerFill = 0;
  }
}
