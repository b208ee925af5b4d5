/** Promise helpers over grpc-js's callback and stream APIs. */
import { readFileSync } from 'node:fs';
import { Metadata } from '@grpc/grpc-js';
import type { ClientReadableStream, requestCallback, ServiceError } from '@grpc/grpc-js';
import type { AgentClient, ExecResponse } from '@sandbank/proto';

export function unary<Res>(invoke: (callback: requestCallback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response as Res)));
  });
}

/** Awaits a failing call and returns its error (fails the test if the call succeeds). */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export async function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const message of stream as AsyncIterable<T>) out.push(message);
  return out;
}

/** What an Exec call produced, by kind, once it has ended. */
export interface ExecResult {
  readonly frames: ExecResponse[];
  readonly pid: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: Extract<ExecResponse['event'], { case: 'exit' }>['value'] | undefined;
  readonly error: ServiceError | undefined;
}

export type ExecCall = ReturnType<AgentClient['exec']>;

/** Reads an Exec call to its end (OK or error). */
export function execResult(call: ExecCall): Promise<ExecResult> {
  return new Promise((resolve) => {
    const frames: ExecResponse[] = [];
    const settle = (error: ServiceError | undefined): void => {
      let stdout = '';
      let stderr = '';
      let pid: number | undefined;
      let exit: ExecResult['exit'];
      for (const f of frames) {
        const e = f.event;
        if (e.case === 'stdout') stdout += Buffer.from(e.value).toString();
        if (e.case === 'stderr') stderr += Buffer.from(e.value).toString();
        if (e.case === 'started') pid = e.value.pid;
        if (e.case === 'exit') exit = e.value;
      }
      resolve({ frames, pid, stdout, stderr, exit, error });
    };
    call.on('data', (f: ExecResponse) => frames.push(f));
    call.on('error', (e: ServiceError) => settle(e));
    call.on('end', () => settle(undefined));
  });
}

/** A ProcessSpec as tests write one: a command and the optional fields they set. */
export type Spec = (ReturnType<typeof argv> | ReturnType<typeof shell>) & {
  env?: Record<string, string>;
  secretEnv?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
};

export interface ExecOptions {
  readonly stdin?: boolean;
  /** Set: the process runs on a terminal of this size. */
  readonly tty?: { readonly rows: number; readonly cols: number };
  readonly maxOutputBytes?: bigint;
  /** Set: the call's deadline, this many milliseconds from now. */
  readonly deadlineMs?: number;
}

/** Opens an Exec call and sends its start frame; the request stream stays open for the test. */
export function startExec(client: AgentClient, spec: Spec, options: ExecOptions = {}): ExecCall {
  const call =
    options.deadlineMs === undefined
      ? client.exec()
      : client.exec(new Metadata(), { deadline: Date.now() + options.deadlineMs });
  const { tty, maxOutputBytes } = options;
  call.write({
    frame: {
      case: 'start',
      value: {
        process: spec,
        stdin: options.stdin ?? false,
        ...(tty === undefined ? {} : { tty }),
        ...(maxOutputBytes === undefined ? {} : { maxOutputBytes }),
      },
    },
  });
  return call;
}

/**
 * Every stdout byte of an Exec call as it arrives (on a terminal, the one stream), and a wait for
 * a byte pattern among them that fails after `timeoutMs`.
 */
export function stdoutOf(
  call: ExecCall,
  timeoutMs: number,
): { bytes: () => Buffer; waitFor: (pattern: Buffer | string) => Promise<void> } {
  // Joined as each chunk arrives, so a poll of `waitFor` reads it without copying.
  let received = Buffer.alloc(0);
  call.on('data', (f: ExecResponse) => {
    if (f.event.case === 'stdout') received = Buffer.concat([received, f.event.value]);
  });
  const bytes = (): Buffer => received;
  return {
    bytes,
    waitFor: (pattern) =>
      eventually(() => (bytes().includes(pattern) ? true : undefined), timeoutMs).then(() => undefined),
  };
}

/** Resolves once `predicate` holds for a frame (e.g. the `started` one). */
export function frameWhere(call: ExecCall, predicate: (f: ExecResponse) => boolean): Promise<ExecResponse> {
  return new Promise((resolve, reject) => {
    const onData = (f: ExecResponse): void => {
      if (predicate(f)) {
        call.off('data', onData);
        resolve(f);
      }
    };
    call.on('data', onData);
    call.once('error', reject);
  });
}

export const started = (f: ExecResponse): boolean => f.event.case === 'started';

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Whether a process is alive: it exists and is not a zombie. An orphaned grandchild that was
 * killed stays a zombie until this machine's init reaps it, which can take a while; dead is dead.
 */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a pid: ${pid}`);
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command (which may itself contain spaces or parentheses).
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** ProcessSpec command of an argv. */
export const argv = (...args: string[]) => ({ command: { case: 'argv' as const, value: { args } } });
/** ProcessSpec command of a shell line. */
export const shell = (line: string) => ({ command: { case: 'shell' as const, value: line } });
