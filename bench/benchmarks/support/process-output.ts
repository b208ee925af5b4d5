/**
 * Reading a background process's output as a client does: the router's attach body
 * (`application/vnd.sandbank.process-output` frames, read by @sandbank/testing's
 * AttachFrameReader) and, for comparison, the agent's own
 * AttachProcess stream. Each reader checks what it got (offsets contiguous from 0, the exit frame
 * last, the byte count) so a number is never measured over a broken stream.
 */
import { request, type Agent, type ClientRequest } from 'node:http';
import type { Metadata } from '@grpc/grpc-js';
import type { AgentClient, AttachProcessResponse } from '@sandbank/proto';
import { AttachFrameReader, FrameKind } from '@sandbank/testing';

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Output read: its bytes in offset order, and when the first and the end arrived. */
export interface OutputRead {
  readonly bytes: number;
  /** performance.now() at the first output byte, and at the exit frame. */
  readonly firstByteAt: number;
  readonly exitAt: number;
}

/** Counts contiguous output from offset 0 and notes the times; throws on a gap or a bad order. */
class OutputTally {
  bytes = 0;
  firstByteAt = 0;
  exitAt = 0;

  chunk(offset: number, length: number): void {
    if (this.exitAt !== 0) throw new Error('output after the exit frame');
    if (offset !== this.bytes)
      throw new Error(`output at offset ${offset}, expected ${this.bytes} (bytes dropped?)`);
    if (this.firstByteAt === 0) this.firstByteAt = performance.now();
    this.bytes += length;
  }

  exit(endOffset: number): void {
    if (endOffset !== this.bytes) throw new Error(`exit at offset ${endOffset} after ${this.bytes} bytes`);
    this.exitAt = performance.now();
  }

  result(expected: number): OutputRead {
    if (this.exitAt === 0) throw new Error('the stream ended without the exit frame');
    if (this.bytes !== expected) throw new Error(`read ${this.bytes} of ${expected} bytes`);
    return { bytes: this.bytes, firstByteAt: this.firstByteAt, exitAt: this.exitAt };
  }
}

/**
 * `GET {processUrl}/attach?fromOffset=0&follow=true` through the router, its body fed to `reader`
 * (whose callbacks throw to end the read with that error); `onEnd` when the body ended.
 */
function attachBody(
  processUrl: string,
  agent: Agent,
  reader: AttachFrameReader,
  onEnd: () => void,
  fail: (error: Error) => void,
): ClientRequest {
  const req = request(`${processUrl}/attach?fromOffset=0&follow=true`, { agent }, (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      fail(new Error(`attach answered ${String(res.statusCode)}`));
      return;
    }
    res.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        req.destroy(asError(error));
      }
    });
    res.on('end', onEnd);
    res.on('error', fail);
  });
  req.on('error', fail);
  req.end();
  return req;
}

/** The router's attach read to the exit frame: `expected` bytes, contiguous from offset 0. */
export function attachViaRouter(processUrl: string, agent: Agent, expected: number): Promise<OutputRead> {
  return new Promise<OutputRead>((resolve, reject) => {
    const tally = new OutputTally();
    const reader = new AttachFrameReader(
      (offset, data) => tally.chunk(offset, data.length),
      (kind, offset) => {
        if (kind === FrameKind.exit) tally.exit(offset);
      },
    );
    const finish = (): void => {
      try {
        resolve(tally.result(expected));
      } catch (error) {
        reject(asError(error));
      }
    };
    attachBody(processUrl, agent, reader, finish, reject);
  });
}

/** A line printed by a process before this many characters is its first line. */
const MAX_LINE_CHARS = 4096;

/** The first line a process printed, read through the router's attach (then the read is ended). */
export function firstLineViaRouter(processUrl: string, agent: Agent): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    const reader = new AttachFrameReader(
      (_offset, data) => {
        text += data.toString('utf8');
        const nl = text.indexOf('\n');
        if (nl >= 0) {
          resolve(text.slice(0, nl));
          req.destroy();
        } else if (text.length > MAX_LINE_CHARS) {
          throw new Error(`no line in the first ${MAX_LINE_CHARS} characters of output`);
        }
      },
      (kind, _offset, payload) => {
        if (kind === FrameKind.exit)
          throw new Error(`the process exited before a line: ${payload.toString()}`);
      },
    );
    const req = attachBody(
      processUrl,
      agent,
      reader,
      () => reject(new Error('the attach ended before a line')),
      reject,
    );
  });
}

/** The same read straight from the agent's AttachProcess (`md` carries its token). */
export function attachDirect(
  client: AgentClient,
  md: Metadata,
  id: string,
  expected: number,
): Promise<OutputRead> {
  return new Promise<OutputRead>((resolve, reject) => {
    const tally = new OutputTally();
    const call = client.attachProcess({ id, fromOffset: 0n, follow: true }, md);
    call.on('data', (m: AttachProcessResponse) => {
      try {
        if (m.event.case === 'output') {
          tally.chunk(Number(m.event.value.offset), m.event.value.data.length);
        } else if (m.event.case === 'exit') {
          // The exit status carries no offset here: the end is where the output ended.
          tally.exit(tally.bytes);
        }
      } catch (error) {
        call.cancel();
        reject(asError(error));
      }
    });
    call.on('error', reject);
    call.on('end', () => {
      try {
        resolve(tally.result(expected));
      } catch (error) {
        reject(asError(error));
      }
    });
  });
}

/** MB/s (10^6 bytes per second) of a read, from its first output byte to its exit frame. */
export const readMBps = (read: OutputRead): number =>
  read.bytes / 1e6 / ((read.exitAt - read.firstByteAt) / 1000);
