// One output stream of a WebSocket exec as its frames arrive: every byte, and the text so far.
// Pure (no cluster), so its decoding is unit-tested on its own.

/**
 * A stream's bytes and text. The text is decoded as one UTF-8 stream, not frame by frame: a
 * character whose bytes two frames split is decoded whole once its last byte arrives (until then
 * the text ends before it). Bytes that are not UTF-8 become U+FFFD in the text; `bytes()` keeps
 * them. Unbounded: a test's output is as large as its test makes it.
 */
export class StreamOutput {
  private readonly chunks: Buffer[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  private decoded = '';

  push(bytes: Uint8Array): void {
    this.chunks.push(Buffer.from(bytes));
    this.decoded += this.decoder.decode(bytes, { stream: true });
  }

  /** The text of every complete character so far. */
  text(): string {
    return this.decoded;
  }

  /** Every byte so far, as sent. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
