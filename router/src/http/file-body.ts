/**
 * A file the agent streams (ReadFile) as a response body, for the Sandbank API's GET /files and
 * the legacy GET /download. The agent is the sandbox's: its first reply must describe the file,
 * and its data must add up to the length that description promised (sent as Content-Length).
 *
 * The status goes out with the headers, so a failure later cuts the body (the client sees a short
 * download) instead of leaving the client with no response. Once the promised bytes are out the
 * response ends there, whatever the agent does next: the client holds a complete answer and may
 * already have sent its next request on the same connection, which a reset would take with it.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ReadFileResponse } from '@sandbank/proto';
import { agentFileInfo } from '../agent/file-info.js';
import type { AgentFileInfo } from '../agent/file-info.js';
import { RouterError } from '../errors.js';
import { drainOrClose } from './drain.js';

/** The response head for the file the agent described. */
export interface FileHead {
  readonly headers: OutgoingHttpHeaders;
  /** The body's length in bytes (Content-Length): what the agent has to send. */
  readonly length: bigint;
}

const mismatch = (): RouterError =>
  new RouterError('upstream_failed', 'the agent sent a file whose length differs from the size it declared');

/**
 * Streams `replies` as a 200 whose head `describe` makes from the file's info, checked against
 * the protocol. Throws before the status went out (`res.headersSent` false) for the caller to
 * answer: the call's own failure, or upstream_failed when the agent's first reply has no valid
 * file info. Throws after it when the agent
 * fails or sends other than the promised bytes: the pipeline then cuts the response.
 */
export async function sendFileBody(
  res: ServerResponse,
  replies: AsyncIterable<ReadFileResponse>,
  describe: (info: AgentFileInfo) => FileHead,
): Promise<void> {
  /** Bytes still owed; undefined until the status went out. */
  let owed: bigint | undefined;
  for await (const reply of replies) {
    if (owed === undefined) {
      const head = describe(agentFileInfo(reply));
      res.writeHead(200, { ...head.headers, 'content-length': String(head.length) });
      res.flushHeaders();
      owed = head.length;
    }
    const size = BigInt(reply.data.length);
    if (size > owed) throw mismatch();
    owed -= size;
    if (owed === 0n) {
      // Leaving the loop cancels the call: the rest of the agent's answer cannot change this one.
      res.end(reply.data);
      return;
    }
    if (size > 0n && !res.write(reply.data)) await drainOrClose(res);
  }
  if (owed === undefined) {
    throw new RouterError('upstream_failed', 'the sandbox agent ended a file read without the file info');
  }
  throw mismatch();
}
