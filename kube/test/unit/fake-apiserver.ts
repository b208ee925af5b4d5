// A scripted API server on a loopback port: it records every request and answers lists and
// watches of one collection the way a test tells it to, so the informer's loop can be driven into
// cases a real server produces only rarely (a watch closed at once, 410 in a watch, paging).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface Recorded {
  readonly at: number;
  readonly watch: boolean;
  readonly query: URLSearchParams;
}

export type WatchEventLine = { readonly type: string; readonly object: unknown };

/** How to answer one watch: events to send, then `end` (close at once) or `hold` (stay open). */
export interface WatchScript {
  readonly events: readonly WatchEventLine[];
  readonly then: 'end' | 'hold';
}

export interface FakeApiServer {
  readonly kc: KubeConfig;
  readonly requests: Recorded[];
  lists(): Recorded[];
  watches(): Recorded[];
  close(): Promise<void>;
}

export interface FakeApiServerOptions {
  /** The list's items per call (the n-th list gets `lists[min(n, last)]`) and its resourceVersion. */
  readonly lists: readonly { readonly items: readonly unknown[]; readonly resourceVersion: string }[];
  /** The n-th watch gets `watches[min(n, last)]`. */
  readonly watches: readonly WatchScript[];
}

export async function startFakeApiServer(opts: FakeApiServerOptions): Promise<FakeApiServer> {
  const requests: Recorded[] = [];
  let listCalls = 0;
  let watchCalls = 0;
  const pick = <V>(all: readonly V[], n: number): V => {
    const v = all[Math.min(n, all.length - 1)];
    if (v === undefined) throw new Error('the fake API server has no script for this call');
    return v;
  };

  const list = (query: URLSearchParams, res: ServerResponse): void => {
    // A new list starts without `continue`; its pages come from the same scripted list.
    const cont = query.get('continue');
    if (cont === null) listCalls++;
    const { items, resourceVersion } = pick(opts.lists, listCalls - 1);
    const limit = Number(query.get('limit') ?? items.length);
    const start = cont === null ? 0 : Number(cont);
    const end = start + limit;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        kind: 'List',
        apiVersion: 'v1',
        metadata: { resourceVersion, ...(end < items.length ? { continue: String(end) } : {}) },
        items: items.slice(start, end),
      }),
    );
  };

  const watch = (res: ServerResponse): void => {
    const script = pick(opts.watches, watchCalls++);
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const event of script.events) res.write(`${JSON.stringify(event)}\n`);
    if (script.then === 'end') res.end();
    else res.flushHeaders();
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const isWatch = url.searchParams.get('watch') === 'true';
    requests.push({ at: performance.now(), watch: isWatch, query: url.searchParams });
    if (isWatch) watch(res);
    else list(url.searchParams, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });

  return {
    kc,
    requests,
    lists: () => requests.filter((r) => !r.watch),
    watches: () => requests.filter((r) => r.watch),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A ConfigMap as the API server stores it. */
export const configMap = (name: string, resourceVersion: string, uid = `uid-${name}`): unknown => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', uid, resourceVersion },
  data: {},
});
