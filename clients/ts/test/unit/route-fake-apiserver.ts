/**
 * A fake Kubernetes API server on 127.0.0.1 for the route's unit tests: JSON answers from a table
 * of `METHOD path` → handler, and the pods' `portforward` subresource as the kubelet speaks it
 * through the API server (a WebSocket, `v4.channel.k8s.io`: each binary message starts with its
 * channel, 0 data and 1 errors, and each channel's first message is the port, 2 bytes little
 * endian), relayed to a TCP port on loopback. Every request is recorded with its Authorization.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { WebSocketServer } from 'ws';

/** An answer, or `hold`: the request is never answered (until the server closes). */
export type Handler = (body: unknown, url: URL) => { status: number; body?: unknown } | 'hold';

export interface Forward {
  /** Where the pod's port goes (a TCP server on loopback), or an error the far end reports. */
  readonly to: { port: number } | { error: string };
}

export interface FakeApiServer {
  readonly kubeconfig: string;
  /** `METHOD path?query` and the Authorization header of every request, in order. */
  readonly seen: { line: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

/** The bearer token of the fake kubeconfig's user: what only the API server may see. */
export const KUBE_TOKEN = 'kubeconfig-user-token';

export async function startFakeApiServer(
  routes: Readonly<Record<string, Handler>>,
  forward: (pod: string, port: number) => Forward = () => ({ to: { error: 'no forward configured' } }),
): Promise<FakeApiServer> {
  const seen: FakeApiServer['seen'] = [];
  const record = (req: IncomingMessage): URL => {
    const url = new URL(req.url ?? '/', 'http://fake');
    seen.push({
      line: `${req.method ?? ''} ${url.pathname}${url.search}`,
      authorization: req.headers.authorization,
    });
    return url;
  };
  const server: Server = createServer((req, res) => {
    const url = record(req);
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const handler = routes[`${req.method ?? ''} ${url.pathname}`];
      const answer = handler
        ? handler(raw ? (JSON.parse(raw) as unknown) : undefined, url)
        : { status: 404, body: { kind: 'Status', message: `${url.pathname} not found` } };
      if (answer === 'hold') return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
  });
  server.on('upgrade', (req, socket, head) => {
    const url = record(req);
    const match = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    const port = Number(url.searchParams.get('ports'));
    if (!match?.[1]) {
      socket.destroy();
      return;
    }
    const pod = match[1];
    wss.handleUpgrade(req, socket, head, (ws) => {
      const portBytes = Buffer.from([port & 0xff, port >> 8]);
      ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
      ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
      const target = forward(pod, port).to;
      if ('error' in target) {
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(target.error)]));
        ws.close();
        return;
      }
      const upstream = connect(target.port, '127.0.0.1');
      upstream.on('data', (data: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), data])));
      upstream.on('close', () => ws.close());
      upstream.on('error', () => ws.close());
      ws.on('message', (data: Buffer) => {
        if (data[0] === 0) upstream.write(data.subarray(1));
      });
      ws.on('close', () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-fake-kube-'));
  const kubeconfig = writeKubeconfig(dir, `http://127.0.0.1:${port}`, KUBE_TOKEN);
  return {
    kubeconfig,
    seen,
    async close() {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
