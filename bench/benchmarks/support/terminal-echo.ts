/**
 * Keystroke echo on a terminal: a process on a pty that puts it in raw mode and echoes each byte
 * itself (as a shell's line editor does), reached through the router's WebSocket exec or straight
 * through the agent's gRPC Exec. One round trip = one byte sent until that byte is back.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { AgentClient, ExecResponse } from '@sandbank/proto';
import { openExecSocket, STDOUT_CHANNEL } from './router-ws.js';

/**
 * Raw mode without the driver's echo, so every byte that comes back was read and written by the
 * program; the marker says the mode is set (keystrokes sent before it would be echoed by the
 * driver in cooked mode instead).
 */
const READY = 'ECHO-READY';
const ECHO_COMMAND = `stty raw -echo && printf ${READY} && exec cat`;
const TERMINAL = { cols: 80, rows: 24 };
/** A lost byte or a dead session fails the run instead of hanging it. */
const WAIT_MS = 10_000;
/** Output kept for matching: the marker and one key fit; a terminal's output is otherwise dropped. */
const TAIL_CHARS = 64;

export interface EchoTerminal {
  /** Milliseconds from writing `key` (one byte) until it is back in the output. */
  roundTrip(key: number): Promise<number>;
  close(): void;
}

/** Matches output against what the benchmark waits for: one wait at a time. */
class OutputWatch {
  private tail = '';
  private waiter: { text: string; resolve: () => void; reject: (e: Error) => void } | undefined;

  output(data: Uint8Array): void {
    this.tail = (this.tail + Buffer.from(data).toString('latin1')).slice(-TAIL_CHARS);
    if (this.waiter && this.tail.includes(this.waiter.text)) {
      this.tail = '';
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve();
    }
  }

  fail(error: Error): void {
    this.waiter?.reject(error);
    this.waiter = undefined;
  }

  /** Resolves once `text` is in the output that arrives after this call (or did since the last match). */
  until(text: string, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
      this.waiter = {
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.output(new Uint8Array());
    });
  }
}

async function echoTerminal(
  watch: OutputWatch,
  send: (bytes: Buffer) => void,
  close: () => void,
): Promise<EchoTerminal> {
  await watch.until(READY, 'raw-mode marker');
  return {
    async roundTrip(key) {
      const back = watch.until(String.fromCharCode(key), `echo of byte ${key}`);
      const started = performance.now();
      send(Buffer.of(key));
      await back;
      return performance.now() - started;
    },
    close,
  };
}

/** The echo program on a terminal through the router's WebSocket exec at `url`. */
export async function routerEchoTerminal(url: string): Promise<EchoTerminal> {
  const ws = await openExecSocket(url);
  const watch = new OutputWatch();
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary && data[0] === STDOUT_CHANNEL) watch.output(data.subarray(1));
    else if (!isBinary && !String(data).includes('"started"'))
      watch.fail(new Error(`session ended: ${String(data)}`));
  });
  ws.on('close', (code) => watch.fail(new Error(`session closed ${code}`)));
  ws.send(JSON.stringify({ type: 'start', shell: ECHO_COMMAND, stdin: true, tty: TERMINAL }));
  return echoTerminal(
    watch,
    (bytes) => ws.send(bytes),
    () => ws.terminate(),
  );
}

/** The same program on a terminal through the agent's own gRPC Exec (`md` carries its token). */
export function directEchoTerminal(client: AgentClient, md: Metadata): Promise<EchoTerminal> {
  const call = client.exec(md);
  const watch = new OutputWatch();
  call.on('data', (m: ExecResponse) => {
    if (m.event.case === 'stdout') watch.output(m.event.value);
    else if (m.event.case === 'exit') watch.fail(new Error('the echo process exited'));
  });
  call.on('error', (e: Error) => watch.fail(e));
  call.write({
    frame: {
      case: 'start',
      value: { process: { command: { case: 'shell', value: ECHO_COMMAND } }, stdin: true, tty: TERMINAL },
    },
  });
  return echoTerminal(
    watch,
    (bytes) => call.write({ frame: { case: 'stdin', value: bytes } }),
    () => call.cancel(),
  );
}
