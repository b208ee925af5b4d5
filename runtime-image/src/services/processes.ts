/**
 * ProcessService: the gRPC face of the background registry (process/background.ts). Every rpc
 * is unary except AttachProcess, which streams from the process's ring at the pace the call
 * takes it; none of them owns a process, so a call ending (cancelled, deadline, disconnect)
 * never affects one.
 *
 * With `tty` the process runs on a pseudo-terminal through the same relay as Exec's (pty.ts):
 * its output is one stream tagged stdout, stdin bytes are keystrokes (0x03 interrupts the
 * foreground job), ResizeProcess sets the size (validated as Exec's resize), TERM defaults to
 * xterm-256color, and the exit is reported as for any other process.
 */
import {
  OutputStream,
  PROCESS_ID_PATTERN,
  PROCESS_ID_RULE,
  ProcessState,
  timestampFromDate,
} from '@sandbank/proto';
import type { ProcessInfo, ProcessServiceHandlers } from '@sandbank/proto';
import { z } from 'zod';
import type { AgentDeps } from '../deps.js';
import { AgentError } from '../errors.js';
import type { BackgroundProcess } from '../process/background.js';
import { DEFAULT_READ_BYTES } from '../process/output-ring.js';
import { terminalSizeOf } from '../process/pty.js';
import { callerSignalOf } from '../process/signals.js';
import { exitStatusOf, processInputOf } from './process-spec.js';
import { drained, toStatus } from './status.js';

type ProcessInfoInit = Omit<ProcessInfo, '$typeName' | '$unknown' | 'exit' | 'startedAt' | 'endedAt'> & {
  exit?: ReturnType<typeof exitStatusOf>;
  startedAt: ReturnType<typeof timestampFromDate>;
  endedAt?: ReturnType<typeof timestampFromDate>;
};

type AttachCall = Parameters<ProcessServiceHandlers['attachProcess']>[0];
type AttachEvent = NonNullable<Parameters<AttachCall['write']>[0]['event']>;

/** An id a caller may send (@sandbank/proto's rule); NOT_FOUND if no process has it. */
const ProcessId = z
  .string()
  .min(1, 'id is required')
  .regex(new RegExp(PROCESS_ID_PATTERN), `id must be ${PROCESS_ID_RULE}`);

export function processHandlers(deps: AgentDeps): ProcessServiceHandlers {
  const registry = deps.background;
  /**
   * Answers a unary call with `work`'s result, or its error as a status. `ended` aborts when the
   * call is cancelled or its deadline passes, so waits end with the call.
   */
  const unary =
    <Req, Res>(work: (request: Req, call: { ended: AbortSignal }) => Promise<Res> | Res) =>
    (
      call: { request: Req; once(event: 'cancelled', listener: () => void): unknown },
      callback: (error: ReturnType<typeof toStatus> | null, response?: Res) => void,
    ): void => {
      const ended = new AbortController();
      call.once('cancelled', () => ended.abort());
      Promise.resolve()
        .then(() => work(call.request, { ended: ended.signal }))
        .then(
          (response) => callback(null, response),
          (error: unknown) => callback(toStatus(error, deps.logger)),
        );
    };
  const find = (id: string): BackgroundProcess => registry.get(validId(id));

  return {
    startProcess: unary(async (request) => {
      const input = await processInputOf(request.process, deps.workspace);
      // Validated before the registry takes a slot, which may evict a finished process: a bad
      // tty size, command or environment is invalid_argument and costs nothing, even at the cap.
      const valid = deps.runner.validate({
        ...input,
        // No limit unless the caller sets one: a background process is meant to outlive calls.
        timeoutMs: input.timeoutMs ?? 0,
        stdin: request.stdin,
        tty: request.tty,
      });
      const bp = await registry.start({
        argv: valid.argv,
        stdin: request.stdin,
        // With a tty the runner returns a PtyProcess (pty.ts): one output stream, stdin as
        // keystrokes, and a `resize`, which is what makes ResizeProcess apply to it. The runner
        // sets TERM, as for Exec.
        spawn: () => deps.runner.launch(valid),
      });
      deps.logger.debug(
        { id: bp.id, pid: bp.pid, tty: request.tty !== undefined },
        'background process started',
      );
      return { process: infoOf(bp) };
    }),

    listProcesses: unary(() => ({ processes: registry.list().map(infoOf) })),

    getProcess: unary((request) => ({ process: infoOf(find(request.id)) })),

    writeProcessStdin: unary(async (request) => {
      await find(request.id).writeStdin(request.data, request.close);
      return {};
    }),

    signalProcess: unary((request) => {
      const signal = callerSignalOf(request.signal);
      find(request.id).signal(signal);
      return {};
    }),

    resizeProcess: unary(async (request) => {
      if (!request.size) throw new AgentError('invalid_argument', 'size is required');
      const size = terminalSizeOf('size', request.size); // the bounds Exec's resize has
      await find(request.id).resize(size);
      return {};
    }),

    waitProcess: unary(async (request, call) => {
      const bp = find(request.id);
      await bp.waitDone(request.timeoutMs, call.ended);
      return { process: infoOf(bp) };
    }),

    removeProcess: unary((request) => {
      registry.remove(validId(request.id));
      return {};
    }),

    attachProcess: (call) => {
      attach(call).catch((error: unknown) => {
        if (!call.cancelled) call.emit('error', toStatus(error, deps.logger));
      });
    },
  };

  async function attach(call: AttachCall): Promise<void> {
    const { id, fromOffset, follow } = call.request;
    const bp = find(id);
    const ring = bp.ring;
    const exitedAtStart = !bp.running;
    // Offsets are exact as numbers below 2^53 (exec.proto); a larger one is past any end.
    const from = fromOffset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(fromOffset);
    const start = Math.min(Math.max(from, ring.first), ring.end);
    const limit = follow ? Infinity : ring.end;
    const write = (event: AttachEvent): boolean => call.write({ event });
    const ended = new AbortController();
    call.once('cancelled', () => ended.abort());
    write({
      case: 'attached',
      value: { startOffset: BigInt(start), bytesDropped: from < ring.first, process: infoOf(bp) },
    });
    let position = start;
    for (;;) {
      if (call.cancelled) return;
      const chunk = ring.read(position, DEFAULT_READ_BYTES, limit);
      if (chunk) {
        position = chunk.offset + chunk.data.length;
        const ok = write({
          case: 'output',
          value: {
            offset: BigInt(chunk.offset),
            stream: chunk.stream === 'stdout' ? OutputStream.STDOUT : OutputStream.STDERR,
            data: chunk.data,
          },
        });
        if (!ok) await drained(call);
        continue;
      }
      if (ring.closed || !follow) break;
      await ring.changed(ended.signal);
    }
    if (call.cancelled) return;
    if (ring.released && position < Math.min(limit, ring.end)) {
      // Removed or evicted under this reader: ending OK would pass a short stream off as whole.
      throw new AgentError(
        'not_found',
        `process '${id}' was removed or evicted while this call read it; bytes from offset ${position} were not sent`,
      );
    }
    const exit = bp.exit;
    if (exit && (follow || exitedAtStart)) write({ case: 'exit', value: exitStatusOf(exit) });
    call.end();
  }
}

/** The ProcessInfo fields of a retained process. */
function infoOf(bp: BackgroundProcess): ProcessInfoInit {
  const exit = bp.exit;
  const endedAt = bp.endedAt;
  return {
    id: bp.id,
    pid: bp.pid,
    command: bp.command,
    state: exit ? ProcessState.EXITED : ProcessState.RUNNING,
    ...(exit ? { exit: exitStatusOf(exit) } : {}),
    startedAt: timestampFromDate(bp.startedAt),
    ...(endedAt ? { endedAt: timestampFromDate(endedAt) } : {}),
    firstOffset: BigInt(bp.ring.first),
    endOffset: BigInt(bp.ring.end),
    stdinOpen: bp.stdinOpen,
  };
}

function validId(id: string): string {
  const parsed = ProcessId.safeParse(id);
  if (!parsed.success)
    throw new AgentError('invalid_argument', parsed.error.issues[0]?.message ?? 'id is not a process id');
  return parsed.data;
}
