/**
 * Drives a command on a pseudo-terminal (Python's `pty` module): the child gets a terminal of
 * 30×100 as stdin, stdout and stderr, a script of steps types into it and waits for what it
 * prints, and after the command exits the child prints `cli-exit=<code>` and `stty -a`, which
 * shows whether the command gave the terminal back in its usual (cooked, echoing) mode.
 */
import { spawn } from 'node:child_process';

export type PtyStep =
  | { readonly send: string }
  | { readonly expect: string }
  /** Resizes the terminal (the child gets SIGWINCH). */
  | { readonly resize: readonly [rows: number, cols: number] }
  /** Sends `send` until `expect` appears (for what follows a signal, whose delivery is not ordered with input). */
  | { readonly send: string; readonly until: string };

const DRIVER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios, time
steps = json.loads(sys.argv[1])
argv = sys.argv[2:]
def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    winsize(0, 30, 100)
    os.execvp('sh', ['sh', '-c', '"$@"; echo "cli-exit=$?"; stty -a', 'sh'] + argv)
out = b''
deadline = time.time() + 90
def read_some(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:
        data = b''
    out += data
    return bool(data)
def expect(marker):
    while marker.encode() not in out:
        if time.time() > deadline or not read_some(1):
            sys.stdout.buffer.write(out)
            sys.exit('gave up waiting for %r' % marker)
for step in steps:
    if 'resize' in step:
        winsize(fd, *step['resize'])
    elif 'until' in step:
        while True:
            start = len(out)
            os.write(fd, step['send'].encode())
            until = time.time() + 2
            while step['until'].encode() not in out[start:] and time.time() < until:
                read_some(0.2)
            if step['until'].encode() in out[start:]:
                break
            if time.time() > deadline:
                sys.stdout.buffer.write(out)
                sys.exit('gave up waiting for %r' % step['until'])
    elif 'send' in step:
        os.write(fd, step['send'].encode())
    else:
        expect(step['expect'])
while read_some(5):
    pass
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
`;

export interface PtyRun {
  readonly code: number | null;
  /** Everything the terminal showed. */
  readonly screen: string;
  readonly stderr: string;
}

export function runOnPty(
  argv: readonly string[],
  steps: readonly PtyStep[],
  env: Record<string, string>,
): Promise<PtyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify(steps), ...argv], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', TERM: 'xterm', ...env },
    });
    let screen = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, screen, stderr }));
  });
}
