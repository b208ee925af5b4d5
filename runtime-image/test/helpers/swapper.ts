/**
 * A hostile sandbox for path-race tests: a process that swaps pairs of names in the workspace as
 * fast as it can. Where the kernel has renameat2(RENAME_EXCHANGE) (Linux), each swap is one
 * atomic rename, so each name is always present and is, from one instant to the next, the real
 * directory (or file) or a symbolic link to somewhere outside. Where it has not (gVisor answers
 * EINVAL), each swap is three renames and the first name is briefly missing; a directory the
 * agent creates there meanwhile (mkdir -p) is moved aside. python3 (ctypes) makes the syscall
 * Node lacks, and runs on its own core, truly in parallel with the agent's threads. SIGTERM
 * stops it; it prints how many swaps it made.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/** python3 script: `swapper <a> <b> [<a2> <b2> ...]`; prints "ready", then the count on SIGTERM. */
export const SWAPPER_SCRIPT = `
import ctypes, errno, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
swaps = strays = 0
def stop(*_):
    sys.stdout.write(f"{swaps}\\n"); sys.stdout.flush(); os._exit(0)
signal.signal(signal.SIGTERM, stop)
def exchange(a, b):
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)
def by_renames(a, b):
    global strays
    hold = a + b'.hold'
    os.rename(a, hold)
    while True:
        try:
            os.rename(b, a)
            break
        except OSError:
            strays += 1
            os.rename(a, a + b'.stray%d' % strays)
    os.rename(hold, b)
try:
    exchange(*pairs[0])
    swap = exchange
except OSError as e:
    if e.errno != errno.EINVAL:
        raise
    swap = by_renames
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:
    for a, b in pairs:
        swap(a, b)
        swaps += 1
`;

export interface Swapper {
  /** Stops the swapper and returns how many swaps it made; fails if it died early. */
  stop(): Promise<number>;
}

/** Starts swapping each `[a, b]` pair of absolute paths; resolves once the loop runs. */
export async function startSwapper(pairs: readonly (readonly [string, string])[]): Promise<Swapper> {
  const child: ChildProcess = spawn('python3', ['-c', SWAPPER_SCRIPT, ...pairs.flat()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (stdout.startsWith('ready\n')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    exited.then(
      (code) => reject(new Error(`swapper exited (${String(code)}) before starting: ${stderr}`)),
      reject,
    );
  });
  return {
    async stop() {
      if (child.exitCode !== null) throw new Error(`swapper died (${child.exitCode}): ${stderr}`);
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`swapper failed (${String(code)}): ${stderr}`);
      return Number(stdout.slice('ready\n'.length).trim());
    },
  };
}
