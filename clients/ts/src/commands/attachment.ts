/**
 * Reading a background process's output from an offset, across connections: a connection that is
 * cut (a router restarting, a session reaching its lifetime) is resumed from the cursor's
 * `nextOffset`, so nothing still retained is lost; one that stalls inside a frame is a
 * ProtocolError (a quiet process between frames is not a stall).
 */
import type { RouterConnection } from '../connection.js';
import { SandbankError } from '../client-errors.js';
import { abortReason } from '../abort.js';
import { ProtocolError } from '../errors.js';
import { send } from '../http/request.js';
import type { RouterResponse } from '../http/request.js';
import { AttachCursor } from './attach-frames.js';
import type { Attached, FrameDecoder, ProcessOutput } from './attach-frames.js';
import type { ExitStatus, ProcessInfo } from './wire.js';

/** The options of `commands.attach`. */
export interface AttachOptions {
  /** The first byte to read (default 0: everything retained). */
  readonly fromOffset?: number;
  /** Wait for more output until the process exits (default true); false: only what is retained now. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  /** Silence allowed inside a frame before the stream counts as stalled (default 30 s). */
  readonly stallMs?: number;
}

const DEFAULT_STALL_MS = 30_000;

/**
 * The output of a background process: iterate for ProcessOutput chunks (a gap between one chunk's
 * end and the next offset: bytes the ring dropped). Iteration ends at the exit (`follow`) or at the
 * bytes retained when it started; `break` stops reading (the process runs on).
 */
export class ProcessAttachment implements AsyncIterable<ProcessOutput> {
  private readonly events: AsyncGenerator<ProcessOutput | undefined, void, undefined>;
  private iterated = false;

  private constructor(
    private readonly conn: RouterConnection,
    private readonly path: string,
    private readonly cursor: AttachCursor,
    private readonly options: AttachOptions,
  ) {
    this.events = this.read();
  }

  /** @internal `commands.attach` opens one. */
  static async open(
    conn: RouterConnection,
    path: string,
    processId: string,
    options: AttachOptions,
  ): Promise<ProcessAttachment> {
    const cursor = new AttachCursor(processId, options.fromOffset ?? 0, options.follow ?? true);
    const attachment = new ProcessAttachment(conn, path, cursor, options);
    try {
      while (cursor.attached === undefined) {
        if ((await attachment.events.next()).done) throw new ProtocolError('attach: no attached frame');
      }
    } catch (error) {
      await attachment.close();
      throw error;
    }
    return attachment;
  }

  private attachedFrame(): Attached {
    if (!this.cursor.attached) throw new Error('unreachable: opened without an attached frame');
    return this.cursor.attached;
  }

  /** Where reading started: the offset asked for, or the first retained byte when that one was dropped. */
  get startOffset(): number {
    return this.attachedFrame().startOffset;
  }

  /** Bytes from the requested offset were dropped (the ring was full): reading started at `startOffset`. */
  get bytesDropped(): boolean {
    return this.attachedFrame().bytesDropped;
  }

  /** The process as it was when the attachment started. */
  get process(): ProcessInfo {
    return this.attachedFrame().process;
  }

  /** One past the last byte received: `fromOffset` for a later attach to resume. */
  get nextOffset(): number {
    return this.cursor.nextOffset;
  }

  /** How the process ended, once the stream said so. */
  get exit(): ExitStatus | undefined {
    return this.cursor.exit;
  }

  private async *read(): AsyncGenerator<ProcessOutput | undefined, void, undefined> {
    const { cursor, options } = this;
    for (;;) {
      const res = await send(this.conn, {
        method: 'GET',
        path: this.path,
        query: cursor.query(),
        idempotent: true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      let cut = false;
      try {
        const decoder = cursor.connect(res.headers['content-type']);
        for await (const chunk of this.body(res, decoder)) {
          for (const event of decoder.feed(chunk)) yield cursor.take(event);
        }
        decoder.end();
      } catch (error) {
        if (res.signal.aborted) throw abortReason(res.signal);
        if (error instanceof SandbankError) throw error;
        cut = true; // the connection broke: resume from the cursor
      } finally {
        res.close();
      }
      if (cursor.finished(cut)) return;
    }
  }

  /** The body's chunks; a silence of `stallMs` while `decoder` holds part of a frame destroys it. */
  private async *body(res: RouterResponse, decoder: FrameDecoder): AsyncGenerator<Uint8Array> {
    const stallMs = this.options.stallMs ?? DEFAULT_STALL_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      for await (const chunk of res.body) {
        clearTimeout(timer);
        yield chunk as Buffer;
        if (decoder.midFrame)
          timer = setTimeout(
            () =>
              res.body.destroy(new ProtocolError(`attach stream: stalled inside a frame for ${stallMs} ms`)),
            stallMs,
          );
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** The output chunks from `fromOffset` on, resuming a cut connection; iterate once. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ProcessOutput, void, undefined> {
    if (this.iterated) throw new TypeError('attachment: is iterated once');
    this.iterated = true;
    for await (const output of this.events) if (output) yield output;
  }

  /** Stops reading (the process runs on). */
  async close(): Promise<void> {
    await this.events.return();
  }
}
