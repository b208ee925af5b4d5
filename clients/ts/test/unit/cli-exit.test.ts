/**
 * The `sandbank` process exits only once its output left it: `process.exit` drops what stdout
 * still holds when it is a pipe to a reader slower than the writer (`sandbank cp CLAIM:FILE -` on
 * a loaded machine printed a file short by its tail).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./cli-exit-child.ts', import.meta.url));

test('output a slow reader has not taken yet is still delivered after the exit', async () => {
  const total = 4_000_000; // whole 1000-byte chunks
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, String(total)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The reader starts only once the writer is done writing: the pipe is full by then, and the rest
  // is still in the writer's process when it decides to exit.
  const [said] = (await once(child.stderr, 'data')) as [Buffer];
  expect(said.toString()).toBe('written\n');
  let received = 0;
  child.stdout.on('data', (chunk: Buffer) => (received += chunk.byteLength));
  const [code] = (await once(child, 'close')) as [number | null];
  expect(code).toBe(0);
  expect(received).toBe(total);
}, 60_000);
