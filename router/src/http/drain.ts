/** Waits until a writable can take more (or is gone), without leaving listeners behind. */
import type { Writable } from 'node:stream';

export function drainOrClose(w: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
