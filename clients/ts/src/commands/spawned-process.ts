/**
 * A command streamed over the router's WebSocket exec (subprotocol `sandbank.exec.v1`,
 * router/README.md): output as it arrives, stdin with backpressure, signals, terminal resizes,
 * and the exit. Every frame from the router is checked (zod for text, the stream byte for binary);
 * one outside the protocol ends the session with a ProtocolError. A ping every `heartbeatMs` that
 * gets no pong by the next one ends it too: that is also how a router stalled inside a frame is
 * noticed (a pong cannot arrive in the middle of one).
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { z } from 'zod';
import type { RouterConnection, SandboxTarget } from '../connection.js';
import { ClientTimeout, ProtocolError, RouterUnreachable, StreamClosed } from '../errors.js';
import { abortReason } from '../abort.js';
import { errorForCode } from '../generated/router-errors.js';
import { parseJson, readCapped, traceHeaders } from '../http/request.js';
import { errnoOf } from '../http/retry.js';
import type { CallOptions } from '../http/request.js';
import { sandboxPath } from '../http/paths.js';
import { errorFromClose, errorFromResponse, MAX_ERROR_BODY_BYTES } from '../http/router-answers.js';
import { OutputChannel } from './output-channel.js';
import { ExitStatusSchema, processFields, signalName, terminalSize } from './wire.js';
import type { Command, ExitStatus, ProcessFieldsOptions, TerminalSize } from './wire.js';

export const EXEC_SUBPROTOCOL = 'sandbank.exec.v1';
/** The router's largest WebSocket message (ROUTER_WS_MAX_MESSAGE_BYTES, 16 MiB): anything larger is refused. */
const MAX_MESSAGE_BYTES = 16 << 20;
/** Output held for readers, both streams together, before the socket is paused. */
const HIGH_WATER_BYTES = 1 << 20;
/** Extra time the session may take beyond the command's own `timeoutMs` (router and network). */
const DEADLINE_MARGIN_MS = 10_000;

const ServerFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), pid: z.int() }),
  ExitStatusSchema.extend({ type: z.literal('exit') }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);

export interface SpawnOptions extends ProcessFieldsOptions, CallOptions {
  /** Keep stdin open for `write`/`end` (default true; `end()` sends EOF). */
  readonly stdin?: boolean;
  /** Run on a pseudo-terminal of this size: output comes as stdout only, `resize` works. */
  readonly pty?: TerminalSize;
  /** The agent's cap on each output stream; past it, output is dropped and the exit says truncated. */
  readonly maxOutputBytes?: number;
  /** Output not read through `stdout`/`stderr` that `wait()` keeps, per stream (default 16 MiB). */
  readonly maxCollectedBytes?: number;
  /** How often the session pings the router; a missed pong ends it (default 30 s). */
  readonly heartbeatMs?: number;
}

/** How a spawned command ended, with the output no reader took (capped by `maxCollectedBytes`). */
export interface SpawnResult extends ExitStatus {
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  /** The agent dropped output (`maxOutputBytes`), or `wait()` did (`maxCollectedBytes`). */
  readonly truncated: boolean;
}

const DEFAULT_COLLECTED_BYTES = 16 << 20;
const DEFAULT_HEARTBEAT_MS = 30_000;

function wsUrl(conn: RouterConnection, target: SandboxTarget): URL {
  const url = new URL(sandboxPath(target, '/exec'), conn.origin);
  url.protocol = conn.origin.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/** A process started by `commands.spawn`, connected over the router's WebSocket while it runs. */
export class SpawnedProcess {
  /** Output on stdout (with a terminal: everything). Iterate once, or take `stdout.readable()`. */
  readonly stdout: OutputChannel;
  readonly stderr: OutputChannel;
  private pidValue = 0;
  private exit: ExitStatus | undefined;
  private readonly settled: Promise<ExitStatus>;
  private settle!: { resolve: (exit: ExitStatus) => void; reject: (error: Error) => void };
  private started!: { resolve: () => void; reject: (error: Error) => void };
  private readonly startedPromise: Promise<void>;
  private paused = false;
  private startedSeen = false;
  private opened = false;
  private stdinOpen: boolean;
  private heartbeat: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: SpawnOptions,
  ) {
    this.stdinOpen = options.stdin ?? true;
    this.stdout = new OutputChannel('stdout', () => this.flow());
    this.stderr = new OutputChannel('stderr', () => this.flow());
    this.settled = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.settled.catch(() => undefined); // observed through wait(); never an unhandled rejection
    this.startedPromise = new Promise((resolve, reject) => (this.started = { resolve, reject }));
  }

  /** Dials the router and sends the start frame; resolves once the process runs (`started`). */
  static async spawn(
    conn: RouterConnection,
    target: SandboxTarget,
    command: Command,
    options: SpawnOptions = {},
  ): Promise<SpawnedProcess> {
    const frame = {
      type: 'start',
      ...processFields(command, options),
      stdin: options.stdin ?? true,
      ...(options.pty ? { tty: terminalSize(options.pty) } : {}),
      ...(options.maxOutputBytes === undefined ? {} : { maxOutputBytes: options.maxOutputBytes }),
    };
    if (options.signal?.aborted) throw abortReason(options.signal);
    const headers = { ...conn.headers, ...traceHeaders(options) };
    const ws = new WebSocket(wsUrl(conn, target), EXEC_SUBPROTOCOL, {
      agent: conn.agent,
      headers,
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      followRedirects: false,
    });
    const proc = new SpawnedProcess(ws, options);
    proc.listen(JSON.stringify(frame));
    await proc.startedPromise;
    return proc;
  }

  /** The process id in the sandbox. */
  get pid(): number {
    return this.pidValue;
  }

  private listen(startFrame: string): void {
    const { ws, options } = this;
    ws.binaryType = 'nodebuffer';
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      readCapped(res, MAX_ERROR_BODY_BYTES, undefined, 'cut').then(
        (body) => this.fail(errorFromResponse(res.statusCode ?? 0, res.headers, body)),
        (error: unknown) => this.fail(error as Error),
      );
    });
    ws.on('open', () => {
      this.opened = true;
      ws.send(startFrame);
      const beat = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
      let answered = true;
      ws.on('pong', () => (answered = true));
      this.heartbeat = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return; // closing: its close event ends the session
        if (!answered)
          return this.fail(new StreamClosed(`the router did not answer a ping within ${beat} ms`));
        answered = false;
        ws.ping();
      }, beat);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.onMessage(data as Buffer, isBinary);
      } catch (error) {
        this.fail(error as Error);
      }
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString('utf8')));
    ws.on('error', (error: Error) =>
      this.fail(
        // ws names each violation of the protocol by the peer WS_ERR_… (a message over maxPayload,
        // a bad opcode, invalid UTF-8, …): the router broke the protocol, not the connection.
        errnoOf(error)?.startsWith('WS_ERR_')
          ? new ProtocolError(`the router broke the WebSocket protocol: ${error.message}`, error)
          : this.opened
            ? new StreamClosed(`the exec stream broke: ${error.message}`, error)
            : new RouterUnreachable(`router unreachable: ${error.message}`, error),
      ),
    );
    const onAbort = (): void => this.fail(options.signal?.reason as Error);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.settled.then(
      () => options.signal?.removeEventListener('abort', onAbort),
      () => options.signal?.removeEventListener('abort', onAbort),
    );
    if (options.timeoutMs !== undefined) {
      const limit = options.timeoutMs + DEADLINE_MARGIN_MS;
      this.deadline = setTimeout(
        () =>
          this.fail(new ClientTimeout(`no exit within ${limit} ms (the command's timeoutMs and a margin)`)),
        limit,
      );
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.exit) throw new ProtocolError('a frame after exit');
    if (isBinary) {
      const stream = data[0];
      if (!this.startedSeen) throw new ProtocolError('output before the started frame');
      if (stream === 1) this.stdout.push(data.subarray(1));
      else if (stream === 2) this.stderr.push(data.subarray(1));
      else throw new ProtocolError(`a binary frame of unknown stream ${String(stream)}`);
      this.flow();
      return;
    }
    const frame = parseJson(data, ServerFrame, 'exec frame');
    switch (frame.type) {
      case 'started':
        if (this.startedSeen) throw new ProtocolError('a second started frame');
        this.startedSeen = true;
        this.pidValue = frame.pid;
        this.started.resolve();
        return;
      case 'exit': {
        this.exit = ExitStatusSchema.parse(frame); // drops `type`
        return;
      }
      case 'error':
        throw errorForCode(frame.code, `router: ${frame.message}`);
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.exit) return this.finish();
    if (this.failure) return;
    this.fail(
      code === 1000 || code === 1005 || code === 1006
        ? new StreamClosed(`the exec stream closed (${code}) before the process exited`)
        : errorFromClose(code, reason),
    );
  }

  private finish(): void {
    this.stop();
    this.stdout.end();
    this.stderr.end();
    if (this.exit) this.settle.resolve(this.exit);
  }

  private fail(error: Error): void {
    if (this.failure || this.exit) {
      if (this.exit) this.finish();
      return;
    }
    this.failure = error;
    this.stop();
    this.ws.terminate();
    this.stdout.end(error);
    this.stderr.end(error);
    this.started.reject(error);
    this.settle.reject(error);
  }

  private stop(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.deadline);
  }

  /** Pauses the socket while readers hold more than the high-water mark, resumes below it. */
  private flow(): void {
    const held = this.stdout.queuedBytes + this.stderr.queuedBytes;
    if (!this.paused && held > HIGH_WATER_BYTES) {
      this.paused = true;
      this.ws.pause();
    } else if (this.paused && held <= HIGH_WATER_BYTES) {
      this.paused = false;
      this.ws.resume();
    }
  }

  private sendFrame(data: string | Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.exit || this.ws.readyState !== WebSocket.OPEN)
      return Promise.reject(new StreamClosed('the process already exited'));
    // Resolves once the socket took the frame: awaiting each write is the backpressure.
    return new Promise((resolve, reject) =>
      this.ws.send(data, { binary: typeof data !== 'string' }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }

  /** Writes to stdin; resolves when the bytes are on their way (await it before the next write). */
  async write(data: Uint8Array | string): Promise<void> {
    if (!this.stdinOpen)
      throw new StreamClosed('stdin: closed (or the process was spawned with stdin: false)');
    await this.sendFrame(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** EOF on stdin. */
  async end(): Promise<void> {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    await this.sendFrame(JSON.stringify({ type: 'close_stdin' }));
  }

  /** Sends SIGHUP, SIGINT, SIGTERM or SIGKILL to the process group. */
  async signal(signal: string = 'SIGTERM'): Promise<void> {
    await this.sendFrame(JSON.stringify({ type: 'signal', signal: signalName(signal) }));
  }

  /** A new terminal size (spawned with `pty`). */
  async resize(size: TerminalSize): Promise<void> {
    if (!this.options.pty) throw new TypeError('resize: this process has no terminal (spawn it with pty)');
    await this.sendFrame(JSON.stringify({ type: 'resize', ...terminalSize(size) }));
  }

  /**
   * Waits for the exit. Output of a stream nobody iterates is kept for the result (up to
   * `maxCollectedBytes`); a stream being iterated must be read to its end for the exit to arrive.
   */
  async wait(): Promise<SpawnResult> {
    const cap = this.options.maxCollectedBytes ?? DEFAULT_COLLECTED_BYTES;
    this.stdout.collect(cap);
    this.stderr.collect(cap);
    const exit = await this.settled;
    return {
      ...exit,
      stdout: this.stdout.collected(),
      stderr: this.stderr.collected(),
      truncated:
        exit.stdoutTruncated ||
        exit.stderrTruncated ||
        this.stdout.collectedTruncated ||
        this.stderr.collectedTruncated,
    };
  }

  /** Ends the session: the agent kills the process group. */
  kill(): void {
    this.fail(new StreamClosed('the session was closed by the client'));
  }
}
