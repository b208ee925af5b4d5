/**
 * One WebSocket exec session bridged to one agent `Exec` bidi stream. The admitted session's signal
 * ties them: the client going away, an idle or expired session, or shutdown aborts it, which cancels
 * the gRPC call (the agent kills the process group); the call's end closes the socket with a
 * mapped code.
 * Only the session's own traffic keeps it open: a start frame within the start timeout, then
 * messages either way within the idle timeout. Pings and pongs are not traffic (a client may send
 * pongs unsolicited); the router's pings only find peers that stopped answering.
 * Backpressure runs both ways: agent output is not read while the socket's send buffer is over
 * the high-water mark, and client stdin pauses the socket while the gRPC send buffer is full.
 * A call that breaks closes the socket with its error once the gateway has said why it broke
 * (a sandbox killed by its memory limit: agent/broken-stream.ts).
 */
import type { WebSocket, RawData } from 'ws';
import { formatZodError } from '@sandbank/api';
import type { AgentPromiseClient, ExecRequest, ExecResponse } from '@sandbank/proto';
import { ExecRequestSchema, create } from '@sandbank/proto';
import type { Connection } from '../admission/admission.js';
import { fromAgentError } from '../agent/status.js';
import { RouterError } from '../errors.js';
import { exitJson, processSpec } from '../exec-spec.js';
import type { Logger } from '../observability/logger.js';
import type { RouterMetrics } from '../observability/metrics.js';
import {
  ControlFrame,
  SIGNALS,
  STDERR_CHANNEL,
  STDOUT_CHANNEL,
  StartFrame,
  channelFrame,
  parseJsonFrame,
} from './frames.js';

export interface TunnelOptions {
  readonly ws: WebSocket;
  readonly agent: AgentPromiseClient;
  /**
   * The admitted session's call options. Its signal aborts (with a RouterError) at the session's
   * deadline or lifetime, and at shutdown: the session then closes with that error's code.
   */
  readonly options: Connection['options'];
  /** Ends the admitted session for a reason of the tunnel's own (aborting the signal above). */
  readonly end: (reason: RouterError) => void;
  /** The error of an agent call that broke, explained when Kubernetes knows why (gateway). */
  readonly explainBroken: (error: RouterError) => Promise<RouterError>;
  readonly idleTimeoutMs: number;
  /** The start frame must arrive within this. */
  readonly startTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: RouterMetrics;
}

/**
 * Output pauses above this many bytes queued on the socket and resumes below half of it.
 * 1 MiB keeps a fast reader's pipe full (a few gRPC messages in flight) while bounding what a
 * slow reader costs the router per session.
 */
const HIGH_WATER = 1024 * 1024;
/**
 * WebSocket pings keep idle NATs open and find dead clients: a client that has not answered one
 * ping by the next is gone, and its session ends.
 */
const PING_INTERVAL_MS = 30_000;
/**
 * How long after the session's deadline the agent's own deadline falls. The session's signal ends
 * the session at its deadline with the session's reason (4408 lifetime_exceeded, 4504 for
 * X-Sandbox-Timeout); the agent's deadline is only the backstop, and must not win that race.
 */
const AGENT_DEADLINE_SLACK_MS = 1_000;

/** Runs the session; resolves when the socket is closed. */
export function runExecTunnel(opts: TunnelOptions): Promise<void> {
  const { ws, log, metrics } = opts;
  const { signal } = opts.options;
  return new Promise<void>((resolve) => {
    let call: ReturnType<AgentPromiseClient['exec']> | undefined;
    let finished = false;
    /** The agent's call broke: nothing more is written to it while the reason is looked up. */
    let broken = false;
    let exitSent = false;
    let unacked = 0;
    let resumeOutput: (() => void) | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    let pongDue = false;

    const fail = (error: RouterError): void => {
      if (finished) return;
      finished = true;
      opts.end(error);
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        ws.close(error.wsCloseCode, error.wsCloseReason);
      }
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (ws.readyState === ws.OPEN) ws.close(1000, 'exit');
    };
    const touch = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () =>
          fail(
            new RouterError(
              'idle_timeout',
              `no message in either direction for ${opts.idleTimeoutMs / 1000} s (pings and pongs do not count)`,
            ),
          ),
        opts.idleTimeoutMs,
      );
    };
    const ping = setInterval(() => {
      if (ws.readyState !== ws.OPEN) return;
      if (pongDue) {
        log.info('websocket peer stopped answering pings; session closed');
        ws.terminate();
        return;
      }
      pongDue = true;
      ws.ping();
    }, PING_INTERVAL_MS);
    ping.unref();
    const startTimer = setTimeout(
      () => fail(new RouterError('idle_timeout', `no start frame within ${opts.startTimeoutMs / 1000} s`)),
      opts.startTimeoutMs,
    );
    const onAbort = (): void => fail(RouterError.from(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    touch();

    /** Sends output; resolves once the socket's queue is below the low-water mark again. */
    const sendOut = async (channel: number, data: Uint8Array): Promise<void> => {
      if (ws.readyState !== ws.OPEN) return;
      unacked += data.length;
      metrics.bytes.inc({ direction: 'from_sandbox' }, data.length);
      ws.send(channelFrame(channel, data), { binary: true }, () => {
        unacked -= data.length;
        if (unacked < HIGH_WATER / 2) resumeOutput?.();
      });
      // Not reading the next message holds the agent back (gRPC flow control).
      if (unacked >= HIGH_WATER) await new Promise<void>((resume) => (resumeOutput = resume));
      resumeOutput = undefined;
    };

    /** The agent's events to the socket, until the call ends. */
    const relay = async (stream: AsyncIterable<ExecResponse>): Promise<void> => {
      for await (const msg of stream) {
        touch();
        switch (msg.event.case) {
          case 'started':
            ws.send(JSON.stringify({ type: 'started', pid: msg.event.value.pid }));
            break;
          case 'stdout':
            await sendOut(STDOUT_CHANNEL, msg.event.value);
            break;
          case 'stderr':
            await sendOut(STDERR_CHANNEL, msg.event.value);
            break;
          case 'exit':
            exitSent = true;
            ws.send(JSON.stringify({ type: 'exit', ...exitJson(msg.event.value) }));
            break;
          case undefined:
            break;
        }
      }
    };

    const start = (frame: StartFrame): void => {
      clearTimeout(startTimer);
      const stream = opts.agent.exec({
        ...opts.options,
        deadline: opts.options.deadline + AGENT_DEADLINE_SLACK_MS,
      });
      call = stream;
      stream.write(
        create(ExecRequestSchema, {
          frame: {
            case: 'start',
            value: {
              process: processSpec(frame),
              stdin: frame.stdin,
              ...(frame.tty ? { tty: frame.tty } : {}),
              ...(frame.maxOutputBytes === undefined ? {} : { maxOutputBytes: BigInt(frame.maxOutputBytes) }),
            },
          },
        }),
      );
      relay(stream).then(
        () =>
          exitSent
            ? finish()
            : fail(new RouterError('upstream_failed', 'the agent ended the stream without an exit frame')),
        (error: unknown) => {
          broken = true;
          opts.explainBroken(fromAgentError(error)).then(fail, (e: unknown) => fail(RouterError.from(e)));
        },
      );
    };

    let stdinBlocked = false;
    const writeIn = (req: ExecRequest): void => {
      if (!call || broken) return;
      if (!call.write(req) && !stdinBlocked) {
        stdinBlocked = true;
        ws.pause();
        call.drained().then(
          () => {
            stdinBlocked = false;
            ws.resume();
          },
          (error: unknown) => fail(RouterError.from(error)),
        );
      }
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      touch();
      if (finished) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        if (!call)
          return fail(new RouterError('invalid_argument', 'the first frame must be a text start frame'));
        metrics.bytes.inc({ direction: 'to_sandbox' }, bytes.length);
        writeIn(create(ExecRequestSchema, { frame: { case: 'stdin', value: bytes } }));
        return;
      }
      const json = parseJsonFrame(bytes.toString('utf8'));
      if (!call) {
        const parsed = StartFrame.safeParse(json);
        if (!parsed.success) {
          return fail(new RouterError('invalid_argument', `start frame: ${formatZodError(parsed.error)}`));
        }
        start(parsed.data);
        return;
      }
      const parsed = ControlFrame.safeParse(json);
      if (!parsed.success)
        return fail(new RouterError('invalid_argument', `frame: ${formatZodError(parsed.error)}`));
      const f = parsed.data;
      switch (f.type) {
        case 'stdin':
          writeIn(
            create(ExecRequestSchema, { frame: { case: 'stdin', value: Buffer.from(f.data, 'utf8') } }),
          );
          break;
        case 'close_stdin':
          writeIn(create(ExecRequestSchema, { frame: { case: 'closeStdin', value: {} } }));
          break;
        case 'signal':
          writeIn(create(ExecRequestSchema, { frame: { case: 'signal', value: SIGNALS[f.signal] } }));
          break;
        case 'resize':
          writeIn(
            create(ExecRequestSchema, { frame: { case: 'resize', value: { cols: f.cols, rows: f.rows } } }),
          );
          break;
      }
    });
    // Liveness only: a pong is not session traffic, so it never resets the idle timer.
    ws.on('pong', () => {
      pongDue = false;
    });
    ws.on('error', (error) => log.debug({ err: String(error) }, 'websocket error'));
    ws.on('close', (code) => {
      if (!finished) {
        finished = true;
        // 1009 is ws's own verdict on an oversized message.
        if (code === 1009) log.info('websocket message over the size limit; session closed');
      }
      // Whatever ended the socket ends the agent's call (a no-op when the call ended first).
      opts.end(new RouterError('canceled', 'the client closed the session'));
      resumeOutput?.();
      clearTimeout(idleTimer);
      clearTimeout(startTimer);
      clearInterval(ping);
      resolve();
    });
  });
}
