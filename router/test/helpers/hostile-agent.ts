/**
 * A hostile "agent" for the router's tests: an HTTP/2 server where a sandbox's agent should be,
 * answering each gRPC call with whatever its script says (lying length prefixes, compressed
 * frames without an encoding, odd statuses and content types, garbage trailers, resets, a dead
 * connection, silence), which no gRPC library would let a test send. Scripts are taken in order,
 * one per call; a call that finds none left gets a plain, well-formed failure. Scripts pushed for
 * a trace id go only to calls carrying that trace (the router passes the client's `traceparent`
 * on), so concurrent requests each get their own, whatever order their calls arrive in.
 */
import { createServer } from 'node:http2';
import type { Http2Server, Http2Session, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ExecServiceDefinition, FileServiceDefinition, FileType } from '@sandbank/proto';

/** One gRPC message frame of a scripted answer. */
export type Frame =
  /**
   * A well-formed reply for the method called: `size` bytes of stdout (Run, Exec; 0: Exec's
   * started), symlinks (ListDir, at most 5,000), a file's size and data (ReadFile), a size (Stat).
   */
  | { readonly kind: 'reply'; readonly size: number }
  /**
   * A well-formed reply for the method called that describes one file with these fields, whatever
   * their values: Stat's info, ReadFile's info (with `size` bytes of data), ListDir's one entry.
   */
  | { readonly kind: 'info'; readonly info: ScriptedFileInfo }
  /** A length prefix that promises `claimed` bytes, followed by `actual` bytes. */
  | { readonly kind: 'lie'; readonly claimed: number; readonly actual: number }
  /** The compressed flag set, with no grpc-encoding. */
  | { readonly kind: 'compressed'; readonly size: number }
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array };

/** The fields of a FileInfo a script sets; the name and path are always `x`. */
export interface ScriptedFileInfo {
  readonly size?: bigint;
  /** A FileType, or any number a hostile agent puts on the wire. */
  readonly type?: number;
  readonly mode?: number;
  readonly modTime?: { readonly seconds: bigint; readonly nanos: number };
}

export interface AgentScript {
  readonly status: number;
  readonly contentType: string | undefined;
  /** grpc-status in the response headers and nothing else (a Trailers-Only response). */
  readonly trailersOnly: boolean;
  readonly frames: readonly Frame[];
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string | undefined;
  readonly ending: 'trailers' | 'end' | 'rst' | 'destroy' | 'goaway' | 'hang';
}

export interface HostileAgent {
  readonly ip: string;
  readonly port: number;
  /** Queues scripts for the next calls that carry no trace id with scripts of its own. */
  push(...scripts: AgentScript[]): void;
  /** Queues scripts for the next calls of the trace `traceId` (32 hex digits), one per call. */
  pushFor(traceId: string, ...scripts: AgentScript[]): void;
  /** Calls answered with a script so far. */
  readonly served: number;
  /** Whether a call of the trace `traceId` was answered with a script pushed for it. */
  servedTrace(traceId: string): boolean;
  /** The most Stat calls seen in flight at once (since the last `reset()`). */
  readonly maxStatsInFlight: number;
  /** Drops the scripts not yet used (shared and per trace) and the Stat count. */
  reset(): void;
  close(): Promise<void>;
}

const RUN = ExecServiceDefinition.run;
const EXEC = ExecServiceDefinition.exec;
const STAT = FileServiceDefinition.stat;
const LIST = FileServiceDefinition.listDir;
const READ = FileServiceDefinition.readFile;

/** A well-formed reply message of `size` for the method at `path`. */
function reply(path: string, size: number): Buffer {
  if (path === RUN.path) {
    return RUN.responseSerialize({
      exit: { exitCode: 0, durationMs: 1 },
      stdout: new Uint8Array(size),
      stderr: new Uint8Array(Math.min(size, 16)),
    });
  }
  if (path === EXEC.path) {
    return EXEC.responseSerialize(
      size === 0
        ? { event: { case: 'started', value: { pid: 7 } } }
        : { event: { case: 'stdout', value: new Uint8Array(size) } },
    );
  }
  if (path === READ.path) {
    return READ.responseSerialize({
      info: { name: 'x', path: 'x', type: FileType.FILE, size: BigInt(size) },
      data: new Uint8Array(Math.min(size, 1024 * 1024)),
    });
  }
  if (path === LIST.path) {
    return LIST.responseSerialize({
      entries: Array.from({ length: Math.min(size, 5_000) }, (_, i) => ({
        name: `l${i}`,
        path: `d/l${i}`,
        type: FileType.SYMLINK,
      })),
    });
  }
  return STAT.responseSerialize({ info: { name: 'x', path: 'x', type: FileType.FILE, size: BigInt(size) } });
}

/** Protobuf's varint of `n`; a negative number as its 64-bit two's complement (int32, int64). */
function varint(n: bigint): Buffer {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

const varintField = (field: number, value: bigint): Buffer =>
  Buffer.concat([varint(BigInt(field << 3)), varint(value)]);
const bytesField = (field: number, bytes: Uint8Array): Buffer =>
  Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(bytes.length)), bytes]);

/**
 * A reply for the method at `path` that describes the file `fields`, encoded by hand so a field
 * can hold any number its wire type carries (a type number the protocol has no name for).
 * Stat's `info`, ListDir's `entries` and ReadFile's `info` are all field 1; ReadFile's data is 2.
 */
function infoReply(path: string, fields: ScriptedFileInfo): Buffer {
  const x = Buffer.from('x');
  const info = Buffer.concat([
    bytesField(1, x), // name
    bytesField(2, x), // path
    varintField(3, fields.size ?? 0n),
    varintField(4, BigInt(fields.type ?? FileType.FILE)),
    varintField(5, BigInt(fields.mode ?? 0)),
    ...(fields.modTime === undefined
      ? []
      : [
          bytesField(
            6,
            Buffer.concat([
              varintField(1, fields.modTime.seconds),
              varintField(2, BigInt(fields.modTime.nanos)),
            ]),
          ),
        ]),
  ]);
  const reply = bytesField(1, info);
  if (path !== READ.path) return reply;
  const size = Number(fields.size ?? 0n);
  return Buffer.concat([reply, bytesField(2, new Uint8Array(Math.min(size, 1024 * 1024)))]);
}

function frame(flag: number, length: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flag, 0);
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

function play(stream: ServerHttp2Stream, path: string, script: AgentScript): void {
  const headers: Record<string, string | number> = { ':status': script.status };
  if (script.contentType !== undefined) headers['content-type'] = script.contentType;
  if (script.trailersOnly) {
    if (script.grpcStatus !== undefined) headers['grpc-status'] = script.grpcStatus;
    if (script.grpcMessage !== undefined) headers['grpc-message'] = script.grpcMessage;
    stream.respond(headers, { endStream: true });
    return;
  }
  stream.respond(headers, { waitForTrailers: script.ending === 'trailers' });
  for (const f of script.frames) {
    if (f.kind === 'reply') {
      const m = reply(path, f.size);
      stream.write(frame(0, m.length, m));
    } else if (f.kind === 'info') {
      const m = infoReply(path, f.info);
      stream.write(frame(0, m.length, m));
    } else if (f.kind === 'lie') stream.write(frame(0, f.claimed, new Uint8Array(f.actual)));
    else if (f.kind === 'compressed') stream.write(frame(1, f.size, new Uint8Array(f.size)));
    else stream.write(f.bytes);
  }
  switch (script.ending) {
    case 'trailers':
      stream.once('wantTrailers', () => {
        const trailers: Record<string, string> = {};
        if (script.grpcStatus !== undefined) trailers['grpc-status'] = script.grpcStatus;
        if (script.grpcMessage !== undefined) trailers['grpc-message'] = script.grpcMessage;
        stream.sendTrailers(trailers);
      });
      stream.end();
      return;
    case 'end':
      stream.end();
      return;
    case 'rst':
      stream.close(2); // INTERNAL_ERROR
      return;
    case 'destroy':
      stream.session?.destroy();
      return;
    case 'goaway':
      stream.session?.goaway(2);
      stream.session?.destroy();
      return;
    case 'hang':
      return;
  }
}

export interface HostileAgentOptions {
  /** The port (an agent's gRPC port is the same in every pod); 0: any. */
  readonly port?: number;
  /** How long a call without a script waits before its plain failure. */
  readonly defaultDelayMs?: number;
  /** Hears each scripted call (its path) just before its script plays. */
  readonly onCall?: (path: string) => void;
}

export async function startHostileAgent(ip: string, opts: HostileAgentOptions = {}): Promise<HostileAgent> {
  const queue: AgentScript[] = [];
  const traced = new Map<string, AgentScript[]>();
  const servedTraces = new Set<string>();
  /** The next script for a call with these headers: its trace's first, else the shared queue's. */
  const next = (traceparent: unknown): AgentScript | undefined => {
    const traceId =
      typeof traceparent === 'string' ? /^00-([0-9a-f]{32})-/.exec(traceparent)?.[1] : undefined;
    const own = traceId === undefined ? undefined : traced.get(traceId);
    if (own === undefined || traceId === undefined) return queue.shift();
    const script = own.shift();
    if (own.length === 0) traced.delete(traceId);
    servedTraces.add(traceId);
    return script;
  };
  const sessions = new Set<Http2Session>();
  let served = 0;
  let statsInFlight = 0;
  let maxStatsInFlight = 0;
  // Node refuses new streams (ENHANCE_YOUR_CALM) once a session holds 10 MB unsent: answers that
  // hang with megabytes queued would then keep the scripts after them from ever being played.
  const server: Http2Server = createServer({ maxSessionMemory: 1024 });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = String(headers[':path']);
    // The request is read and dropped: the router's writes never stall.
    stream.resume();
    if (path === STAT.path) {
      statsInFlight++;
      maxStatsInFlight = Math.max(maxStatsInFlight, statsInFlight);
      stream.once('close', () => statsInFlight--);
    }
    const script = next(headers['traceparent']);
    if (script === undefined) {
      const answer = (): void => {
        if (stream.closed) return;
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'none' },
          { endStream: true },
        );
      };
      if (opts.defaultDelayMs) setTimeout(answer, opts.defaultDelayMs);
      else answer();
      return;
    }
    served++;
    opts.onCall?.(path);
    try {
      play(stream, path, script);
    } catch {
      // A stream the router already closed: nothing to answer.
      stream.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, ip, () => resolve());
  });
  return {
    ip,
    port: (server.address() as AddressInfo).port,
    push: (...scripts) => queue.push(...scripts),
    pushFor: (traceId, ...scripts) => {
      if (scripts.length > 0) traced.set(traceId, [...(traced.get(traceId) ?? []), ...scripts]);
    },
    reset: () => {
      queue.length = 0;
      traced.clear();
      servedTraces.clear();
      maxStatsInFlight = 0;
    },
    get served() {
      return served;
    },
    servedTrace: (traceId) => servedTraces.has(traceId),
    get maxStatsInFlight() {
      return maxStatsInFlight;
    },
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
