/**
 * The WebSocket exec protocol, `sandbank.exec.v1`.
 *
 * Client → router:
 * - text `{"type":"start", command | shell, env?, cwd?, timeoutMs?, stdin?, tty?, maxOutputBytes?}`,
 *   exactly once, first;
 * - binary frames: raw bytes for the process's stdin (only with `"stdin": true`);
 * - text `{"type":"stdin","data":"…"}`: UTF-8 text for stdin (for clients without binary frames);
 * - text `{"type":"close_stdin"}`, `{"type":"signal","signal":"SIGINT"}`,
 *   `{"type":"resize","cols":80,"rows":24}`.
 *
 * Router → client:
 * - text `{"type":"started","pid":123}`;
 * - binary frames whose first byte is the stream (1 stdout, 2 stderr) followed by the bytes;
 * - text `{"type":"exit","exitCode":0,"signal":"","timedOut":false,…}`, then close 1000;
 * - on failure, text `{"type":"error","code":"…","message":"…"}`, then close with the code's
 *   WebSocket close code (see errors.ts) and a reason starting with the code.
 */
import { z } from 'zod';
import { Signal } from '@sandbank/proto';
import { ProcessRequest } from '../exec-spec.js';

export const EXEC_SUBPROTOCOL = 'sandbank.exec.v1';
export const STDOUT_CHANNEL = 1;
export const STDERR_CHANNEL = 2;

export const TerminalSize = z.strictObject({
  cols: z.number().int().min(1).max(10_000),
  rows: z.number().int().min(1).max(10_000),
});

export const StartFrame = ProcessRequest.extend({
  type: z.literal('start'),
  stdin: z.boolean().default(false),
  tty: TerminalSize.optional(),
  maxOutputBytes: z.number().int().positive().optional(),
}).refine((b) => (b.command === undefined) !== (b.shell === undefined), {
  message: 'exactly one of command and shell is required',
  path: ['command'],
});
export type StartFrame = z.infer<typeof StartFrame>;

export const SIGNALS = {
  SIGHUP: Signal.HUP,
  SIGINT: Signal.INT,
  SIGKILL: Signal.KILL,
  SIGTERM: Signal.TERM,
} as const;

export const ControlFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdin'), data: z.string() }),
  z.strictObject({ type: z.literal('close_stdin') }),
  z.strictObject({ type: z.literal('signal'), signal: z.enum(['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM']) }),
  TerminalSize.extend({ type: z.literal('resize') }),
]);
export type ControlFrame = z.infer<typeof ControlFrame>;

/** A text frame as JSON, or undefined when it is not JSON. */
export function parseJsonFrame(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function channelFrame(channel: number, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(data.length + 1);
  frame[0] = channel;
  frame.set(data, 1);
  return frame;
}
