/** Files against a loopback router: streamed reads and writes, caps, paths, and the calls' queries. */
import { Readable } from 'node:stream';
import { ClientTimeout, SizeLimitExceeded } from '../../src/errors.js';
import { Files } from '../../src/files.js';
import { AlreadyExists, NotFound } from '../../src/generated/router-errors.js';
import { json, PREFIX, routerError, startFakeRouter, TARGET } from './hostile-router.js';
import type { FakeRouter } from './hostile-router.js';

let router: FakeRouter | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

const info = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'a.txt',
  path: 'dir/a.txt',
  size: 5,
  type: 'file',
  mode: 0o644,
  modTime: '2026-01-02T03:04:05Z',
  ...over,
});

describe('write', () => {
  test('streams a Readable as a chunked body, never knowing its length', async () => {
    const arrivals: number[] = [];
    let total = 0;
    router = await startFakeRouter(
      (req, res) => {
        req.on('data', (chunk: Buffer) => {
          arrivals.push(chunk.byteLength);
          total += chunk.byteLength;
        });
        req.on('end', () => json(res, 201, info({ size: total })));
      },
      undefined,
      { streamBodies: true },
    );
    const chunks = (function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 << 10, i);
    })();
    const written = await new Files(router.conn, TARGET).write('dir/a.txt', Readable.from(chunks), {
      mode: 0o600,
    });
    expect(written.size).toBe(64 * (64 << 10));
    const [sent] = router.requests;
    expect(sent?.method).toBe('PUT');
    expect(sent?.url.pathname).toBe(`${PREFIX}/files/dir%2Fa.txt`);
    expect(sent?.url.search).toBe('?mode=600&createParents=true');
    expect(sent?.headers['transfer-encoding']).toBe('chunked');
    expect(sent?.headers['content-length']).toBeUndefined();
  });

  test('bytes and text are sent whole, and resent after a retryable answer; a web stream is sent once', async () => {
    router = await startFakeRouter((_req, res, body, index) =>
      index === 0
        ? routerError(res, 503, 'shutting_down', { 'retry-after': '0' })
        : json(res, 201, info({ size: body.byteLength })),
    );
    const files = new Files(router.conn, TARGET);
    expect((await files.write('a.txt', 'héllo')).size).toBe(6);
    expect(router.requests.map((r) => r.body.toString())).toEqual(['héllo', 'héllo']);
    await router.close();
    router = await startFakeRouter((_req, res) => routerError(res, 502, 'upstream_failed'));
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('once'));
        controller.close();
      },
    });
    await expect(new Files(router.conn, TARGET).write('a.txt', web)).rejects.toThrow(/upstream_failed/);
    expect(router.requests).toHaveLength(1);
  });

  test('a source that fails is the error the write rejects with', async () => {
    router = await startFakeRouter((_req, res) => json(res, 201, info()), undefined, { streamBodies: true });
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk went away'));
      },
    });
    await expect(new Files(router.conn, TARGET).write('a.txt', failing)).rejects.toThrow('disk went away');
  });
});

describe('read', () => {
  test('streams the body with its size and mode; readText; offset and limit', async () => {
    router = await startFakeRouter((_req, res) => {
      res.writeHead(200, {
        'content-length': '11',
        'x-sandbank-file-mode': '0640',
        'last-modified': 'Fri, 02 Jan 2026 03:04:05 GMT',
      });
      res.end('hello world');
    });
    const files = new Files(router.conn, TARGET);
    const read = await files.read('a.txt', { offset: 2, limit: 100 });
    expect([read.size, read.mode, read.modTime?.toISOString()]).toEqual([
      11,
      0o640,
      '2026-01-02T03:04:05.000Z',
    ]);
    expect(await new Response(read.stream).text()).toBe('hello world');
    expect(router.requests[0]?.url.search).toBe('?offset=2&limit=100');
    expect(await files.readText('a.txt')).toBe('hello world');
  });

  test('readBytes past maxBytes is SizeLimitExceeded; a read past timeoutMs is ClientTimeout', async () => {
    router = await startFakeRouter((req, res) => {
      res.writeHead(200);
      if (req.url?.includes('slow')) {
        res.write('a'); // then nothing
        return;
      }
      res.end(Buffer.alloc(1 << 20));
    });
    const files = new Files(router.conn, TARGET);
    await expect(files.readBytes('big', { maxBytes: 1000 })).rejects.toBeInstanceOf(SizeLimitExceeded);
    await expect(files.readBytes('slow', { timeoutMs: 200 })).rejects.toBeInstanceOf(ClientTimeout);
  });

  test('paths are one encoded segment; dot paths survive URL resolution', async () => {
    router = await startFakeRouter((_req, res) => res.end('x'));
    const files = new Files(router.conn, TARGET);
    await files.readText('../a b/c?d');
    await files.readText('.');
    await files.readText('..');
    expect(router.requests.map((r) => r.rawUrl)).toEqual([
      `${PREFIX}/files/..%2Fa%20b%2Fc%3Fd`,
      `${PREFIX}/files/%2E`,
      `${PREFIX}/files/%2E%2E`,
    ]);
    await expect(files.readText('')).rejects.toThrow(/^path:/);
  });
});

describe('list, stat, exists, mkdir, remove', () => {
  test('queries and answers', async () => {
    router = await startFakeRouter((req, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      if (url.pathname.endsWith('/list'))
        return json(res, 200, { entries: [info(), info({ name: 'd', type: 'directory' })] });
      if (url.pathname.endsWith('/stat'))
        return url.searchParams.get('path') === 'gone'
          ? routerError(res, 404, 'not_found', {})
          : json(res, 200, info());
      if (url.pathname.endsWith('/mkdir'))
        return url.searchParams.get('parents') === 'false'
          ? routerError(res, 409, 'already_exists')
          : json(res, 201, info({ type: 'directory' }));
      res.writeHead(204).end();
    });
    const files = new Files(router.conn, TARGET);
    expect((await files.list('dir')).map((e) => e.type)).toEqual(['file', 'directory']);
    expect((await files.stat('dir/a.txt')).mode).toBe(0o644);
    expect((await files.mkdir('d', { mode: 0o700 })).type).toBe('directory');
    await expect(files.mkdir('d', { parents: false })).rejects.toBeInstanceOf(AlreadyExists);
    await files.remove('d', { recursive: true });
    expect(
      router.requests.map((r) => `${r.method} ${r.url.pathname.slice(PREFIX.length)}${r.url.search}`),
    ).toEqual([
      'GET /list?path=dir',
      'GET /stat?path=dir%2Fa.txt',
      'POST /mkdir?path=d&parents=true&mode=700',
      'POST /mkdir?path=d&parents=false',
      'DELETE /files/d?recursive=true',
    ]);
  });

  test('exists: a missing file is false; a missing sandbox still throws', async () => {
    router = await startFakeRouter((req, res) => {
      const path = new URL(req.url ?? '', 'http://x').searchParams.get('path');
      if (path === 'here') return json(res, 200, info());
      res.writeHead(404, { 'content-type': 'application/json', 'x-sandbank-error-code': 'not_found' });
      res.end(
        JSON.stringify({
          error: {
            code: 'not_found',
            message:
              path === 'gone'
                ? "'gone': no such file or directory"
                : 'no sandbox named sb-1 in namespace team-a',
          },
        }),
      );
    });
    const files = new Files(router.conn, TARGET);
    expect(await files.exists('here')).toBe(true);
    expect(await files.exists('gone')).toBe(false);
    await expect(files.exists('other')).rejects.toBeInstanceOf(NotFound);
  });
});
