/**
 * The progress bar of `cp`: a pass-through stream that counts bytes and redraws one line on stderr,
 * at most every 100 ms (a redraw per chunk would cost more than the copy), only when stderr is a
 * terminal and the file is large enough for the wait to be noticed.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { progressLine } from './format.js';
import type { OutputStream } from './io.js';

/** Files smaller than this copy too fast for a bar to help. */
export const PROGRESS_MIN_BYTES = 1 << 20;
const REDRAW_MS = 100;

export function wantsProgress(stderr: OutputStream, total: number | undefined, quiet: boolean): boolean {
  return !quiet && stderr.isTTY === true && (total === undefined || total >= PROGRESS_MIN_BYTES);
}

export class Progress extends Transform {
  private done = 0;
  private lastDraw = 0;
  private readonly started = Date.now();

  constructor(
    private readonly stderr: OutputStream,
    private readonly total: number | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.done += chunk.byteLength;
    const now = Date.now();
    if (now - this.lastDraw >= REDRAW_MS) {
      this.lastDraw = now;
      this.draw(now);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.draw(Date.now());
    this.stderr.write('\n');
    callback();
  }

  private draw(now: number): void {
    const width = (this.stderr.columns ?? 80) - 1;
    this.stderr.write(`\r${progressLine(this.done, this.total, now - this.started, width)}\x1b[K`);
  }
}
