/** A WebSocket exec client for tests: collects frames, sends the protocol's frames. */
import WebSocket from 'ws';

export interface ExecSession {
  readonly ws: WebSocket;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly texts: unknown[];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  waitForText(predicate: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export function openExec(url: string, headers: Record<string, string> = {}): Promise<ExecSession> {
  const ws = new WebSocket(url, 'sandbank.exec.v1', { headers });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const texts: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (f: Record<string, unknown>) => boolean;
    resolve: (f: Record<string, unknown>) => void;
  }[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      (data[0] === 1 ? out : err).push(data.subarray(1));
      return;
    }
    const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    texts.push(frame);
    for (const w of [...waiters]) {
      if (w.predicate(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
  );
  return new Promise<ExecSession>((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        stdout: () => Buffer.concat(out).toString('utf8'),
        stderr: () => Buffer.concat(err).toString('utf8'),
        texts,
        closed,
        waitForText: (predicate) =>
          new Promise((res) => {
            const hit = texts.find(predicate);
            if (hit) res(hit);
            else waiters.push({ predicate, resolve: res });
          }),
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      reject(
        Object.assign(new Error(`upgrade refused: ${String(res.statusCode)}`), {
          statusCode: res.statusCode,
        }),
      );
    });
    ws.once('error', reject);
  });
}
