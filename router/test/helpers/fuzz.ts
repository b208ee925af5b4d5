/**
 * Support for the router's fuzz suites: a router in a process of its own (fuzz-target.ts),
 * in-memory connections into a router's real HTTP server (its HTTP parser, upgrade handling and
 * routes, without the kernel's loopback and a full client per request), a bounded worker pool,
 * heap measured after forced collections, and a canary WebSocket exec session that must be
 * unaffected by everything else.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Duplex } from 'node:stream';
import type { Server as HttpServer } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import type { ClientOptions } from 'ws';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after two forced collections. */
export function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Whether `promise` settles within `timeoutMs` (its timer cleared either way). */
export async function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  return ok;
}

/** Runs `run` over `items` with at most `concurrency` in flight. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        const item = items[index];
        if (item !== undefined) await run(item, index);
      }
    }),
  );
}

/**
 * Metrics text once `ok` holds for it, or the last text after `timeoutMs`. A session's end is
 * counted when the router has cleaned up after it, a little after the client saw it close.
 */
export async function settledMetrics(
  read: () => Promise<string | undefined>,
  ok: (text: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  const until = Date.now() + timeoutMs;
  let text = (await read()) ?? '';
  while (!ok(text) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    text = (await read()) ?? '';
  }
  return text;
}

/** No request or stream in flight, on any surface. */
export const nothingInFlight = (metrics: string): boolean =>
  !/sandbank_router_inflight_requests\{[^}]*\} [1-9]/.test(metrics) &&
  !/sandbank_router_websocket_sessions [1-9]/.test(metrics);

/**
 * One end of an in-memory connection. Node's HTTP server accepts any Duplex as a connection (the
 * documented `'connection'` injection); the socket methods it and `ws` call are no-ops here.
 */
export class MemorySocket extends Duplex {
  peer: MemorySocket | undefined;
  readonly remotePort = 0;

  constructor(readonly remoteAddress: string) {
    super();
  }

  override _read(): void {
    // Data arrives through the peer's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === undefined || peer.destroyed) {
      callback(new Error('EPIPE: the other end is closed'));
      return;
    }
    peer.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.peer !== undefined && !this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // As a reset TCP connection: the other end closes too.
    if (this.peer !== undefined && !this.peer.destroyed) this.peer.destroy();
    callback(error);
  }

  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** A client end connected to `server` (the server sees a connection from `remoteAddress`). */
export function connectInMemory(server: HttpServer, remoteAddress = '127.0.0.1'): MemorySocket {
  const client = new MemorySocket('127.0.0.1');
  const side = new MemorySocket(remoteAddress);
  client.peer = side;
  side.peer = client;
  server.emit('connection', side);
  return client;
}

export interface RawRequest {
  readonly method: string;
  /** The request target as a client sends it (origin form). */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | string | undefined;
}

/** An HTTP/1.1 request's bytes, `Connection: close`, with a Content-Length for any body. */
export function requestBytes(r: RawRequest): Buffer {
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'host: router.test', 'connection: close'];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`content-length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === undefined ? head : Buffer.concat([head, body]);
}

export interface Exchange {
  /** The response's status, or 0 when the connection closed without one. */
  readonly status: number;
  /** Bytes received (head and body). */
  readonly bytes: number;
  readonly hung: boolean;
}

/**
 * Writes `bytes` on a fresh in-memory connection and reads until the router closes it. Unless
 * `endRequest`, the request end stays open (a client waiting for its answer) and the router
 * decides when the exchange is over; with it, the client half-closes right after its bytes.
 */
export function exchange(
  server: HttpServer,
  bytes: Buffer,
  opts: { readonly hangMs: number; readonly remoteAddress?: string; readonly endRequest?: boolean },
): Promise<Exchange> {
  return new Promise<Exchange>((resolve) => {
    const socket = connectInMemory(server, opts.remoteAddress);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (hung: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const head = Buffer.concat(chunks.slice(0, 4)).subarray(0, 64).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), bytes: size, hung });
    };
    const timer = setTimeout(() => finish(true), opts.hangMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (chunks.length < 4) chunks.push(chunk);
    });
    socket.on('end', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('error', () => finish(false));
    if (opts.endRequest === true) socket.end(bytes);
    else socket.write(bytes);
  });
}

/** A WebSocket client whose connection is an in-memory one into `server`. */
export function inMemoryWebSocket(
  server: HttpServer,
  url: string,
  protocol: string,
  options: ClientOptions = {},
): WebSocket {
  return new WebSocket(url, protocol, { ...options, createConnection: () => connectInMemory(server) });
}

/**
 * A long-lived exec session (`cat`) that echoes every line sent to it: the fuzz pokes it while
 * the hostile inputs run, and it must answer each poke and exit 0 at the end.
 */
export class Canary {
  private readonly ws: WebSocket;
  private echoed = '';
  private sent = '';
  private readonly exited: Promise<{ exitCode: unknown; closeCode: number }>;
  private readonly started: Promise<void>;
  /** Pokes waiting for their echo: each is done once this much has come back. */
  private readonly waiters: { until: number; resolve: () => void }[] = [];

  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, 'sandbank.exec.v1', { headers });
    let exitCode: unknown;
    this.started = new Promise<void>((resolve, reject) => {
      this.ws.on('open', () =>
        this.ws.send(JSON.stringify({ type: 'start', command: ['cat'], stdin: true })),
      );
      this.ws.on('error', reject);
      this.ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) {
          if (data[0] === 1) this.echoed += data.subarray(1).toString('utf8');
          for (const w of this.waiters.filter((x) => this.echoed.length >= x.until)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
          return;
        }
        const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        if (frame['type'] === 'started') resolve();
        if (frame['type'] === 'exit') exitCode = frame['exitCode'];
      });
    });
    this.exited = new Promise((resolve) =>
      this.ws.on('close', (closeCode) => resolve({ exitCode, closeCode })),
    );
  }

  start(): Promise<void> {
    return this.started;
  }

  /** Sends a line and waits (at most `timeoutMs`) for it to come back. Pokes may overlap. */
  async poke(line: string, timeoutMs: number): Promise<boolean> {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    const text = `${line}\n`;
    this.sent += text;
    const until = this.sent.length;
    const echoed = new Promise<void>((resolve) => this.waiters.push({ until, resolve }));
    this.ws.send(Buffer.from(text));
    return settlesWithin(echoed, timeoutMs);
  }

  /** Ends the session: every line sent came back, in order, and `cat` exited 0 with close 1000. */
  async finish(): Promise<{ intact: boolean; exitCode: unknown; closeCode: number }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'close_stdin' }));
    const { exitCode, closeCode } = await this.exited;
    return { intact: this.echoed === this.sent, exitCode, closeCode };
  }
}

/** How a fuzz target process ended. */
export interface TargetExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The end of what it wrote to stderr (a crash's message). */
  readonly stderr: string;
  /** Set when the watchdog killed it: its resident memory, in MiB, went over the cap. */
  readonly killedAtRssMiB?: number;
}

/** A process's resident memory in MiB (Linux /proc), or undefined once it is gone. */
async function residentMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kib = status?.match(/^VmRSS:\s+(\d+) kB$/m)?.[1];
  return kib === undefined ? undefined : Number(kib) / 1024;
}

/** How often the watchdog samples the target's resident memory. */
const RSS_SAMPLE_MS = 200;

/**
 * A router in a child process (see fuzz-target.ts), with its memory capped: the V8 heap by
 * --max-old-space-size (a runaway JavaScript allocation fails inside the router) and the whole
 * process by a watchdog that kills it when its resident memory goes over the cap (a runaway
 * native one, e.g. in HTTP/2). Not `ulimit -v`: V8 reserves about 8 GiB of address space up
 * front, so any cap on virtual memory that protects the machine kills a healthy router.
 */
export class FuzzTarget {
  private nextId = 0;
  private readonly pending = new Map<number, (value: unknown) => void>();
  private stderr = '';
  private exit: TargetExit | undefined;
  private killedAtRssMiB: number | undefined;
  /** The most resident memory the target used while sampled, in MiB. */
  peakRssMiB = 0;
  readonly exited: Promise<TargetExit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly wsUrl: string,
    readonly grpcAddress: string,
    maxRssMiB: number,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString('utf8')).slice(-4000)));
    const pid = child.pid;
    const sample = async (): Promise<void> => {
      const rss = pid === undefined ? undefined : await residentMiB(pid);
      if (rss === undefined || this.exit !== undefined) return;
      this.peakRssMiB = Math.max(this.peakRssMiB, rss);
      if (rss > maxRssMiB && this.killedAtRssMiB === undefined) {
        this.killedAtRssMiB = rss;
        child.kill('SIGKILL');
      }
    };
    const watchdog = setInterval(() => {
      sample().catch(() => undefined);
    }, RSS_SAMPLE_MS);
    watchdog.unref();
    child.on('message', (raw: unknown) => {
      const m = raw as { id?: number; value?: unknown };
      if (m.id === undefined) return;
      this.pending.get(m.id)?.(m.value);
      this.pending.delete(m.id);
    });
    this.exited = new Promise<TargetExit>((resolve) =>
      child.on('exit', (code, signal) => {
        clearInterval(watchdog);
        this.exit = {
          code,
          signal,
          stderr: this.stderr,
          ...(this.killedAtRssMiB === undefined ? {} : { killedAtRssMiB: Math.round(this.killedAtRssMiB) }),
        };
        for (const settle of this.pending.values()) settle(undefined);
        this.pending.clear();
        resolve(this.exit);
      }),
    );
  }

  /**
   * Starts the target, its V8 heap capped at `maxHeapMiB` and its resident memory at
   * `maxRssMiB`, so a runaway allocation ends the router instead of exhausting the machine.
   */
  static start(options: {
    readonly token: string;
    readonly limits: Record<string, number>;
    readonly agentIp: string;
    readonly maxHeapMiB: number;
    readonly maxRssMiB: number;
  }): Promise<FuzzTarget> {
    const script = fileURLToPath(new URL('./fuzz-target.ts', import.meta.url));
    const { maxHeapMiB, maxRssMiB, ...targetOptions } = options;
    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${maxHeapMiB}`,
        '--conditions=source',
        '--import',
        'tsx',
        script,
        JSON.stringify(targetOptions),
      ],
      { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] },
    );
    return new Promise<FuzzTarget>((resolve, reject) => {
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
      child.once('exit', (code) =>
        reject(new Error(`fuzz target exited (${String(code)}) before ready: ${err}`)),
      );
      child.once('message', (raw: unknown) => {
        const m = raw as { type: string; url: string; wsUrl: string; grpcAddress: string };
        resolve(new FuzzTarget(child, m.url, m.wsUrl, m.grpcAddress, maxRssMiB));
      });
    });
  }

  /** Whether the process is still running (not crashed, not killed). */
  get alive(): boolean {
    return this.exit === undefined;
  }

  private request<T>(type: string): Promise<T | undefined> {
    if (!this.alive) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise<T | undefined>((resolve) => {
      this.pending.set(id, (v) => resolve(v as T | undefined));
      this.child.send({ id, type });
    });
  }

  /** The router process's heap in use after two forced collections, in MiB. */
  async heapMiB(): Promise<number> {
    return ((await this.request<number>('heap')) ?? Number.NaN) / 2 ** 20;
  }

  metrics(): Promise<string | undefined> {
    return this.request<string>('metrics');
  }

  /** Error-level log lines of the router (at most 100). */
  async errorLogs(): Promise<Record<string, unknown>[]> {
    return (await this.request<Record<string, unknown>[]>('logs')) ?? [];
  }

  /** Closes the router and agent; kills the process if it does not end by itself. */
  async close(): Promise<TargetExit> {
    if (this.alive) {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await this.request('close');
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}
