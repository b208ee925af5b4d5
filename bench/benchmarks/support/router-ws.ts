/**
 * The router's WebSocket exec (`sandbank.exec.v1`) as a benchmark client uses it: open a session,
 * and stream a command's stdout through it as fast as the client can read.
 */
import WebSocket from 'ws';

export const EXEC_SUBPROTOCOL = 'sandbank.exec.v1';
/** First byte of a binary frame carrying stdout. */
export const STDOUT_CHANNEL = 1;

/** An open exec session at `url` (`ws://…/v1/namespaces/{ns}/sandboxes/{name}/exec`). */
export function openExecSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, EXEC_SUBPROTOCOL, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * `head -c bytes /dev/zero` through the session at `url`: MB/s (10^6 bytes per second) from the
 * first stdout byte to the exit frame. Rejects unless exactly `bytes` arrived.
 */
export async function wsStdoutThroughput(url: string, bytes: number): Promise<number> {
  const ws = await openExecSocket(url);
  return new Promise<number>((resolve, reject) => {
    let received = 0;
    let started = 0;
    ws.once('error', reject);
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        if (started === 0) started = performance.now();
        received += data.length - 1;
      } else if (String(data).includes('"exit"')) {
        const seconds = (performance.now() - started) / 1000;
        ws.close();
        if (received !== bytes) reject(new Error(`received ${received} of ${bytes} bytes`));
        else resolve(bytes / 1e6 / seconds);
      }
    });
    ws.send(JSON.stringify({ type: 'start', command: ['head', '-c', String(bytes), '/dev/zero'] }));
  });
}
