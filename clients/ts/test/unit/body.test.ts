/**
 * The one bounded body reader (src/body.ts) and its two users: the router's buffered answers
 * (`readCapped`: SizeLimitExceeded or a cut past the cap, ProtocolError on a stall or a break) and
 * the API server's (a KubernetesError naming the call past 16 MiB).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { PassThrough, Readable } from 'node:stream';
import { readBody } from '../../src/body.js';
import { KubernetesError } from '../../src/client-errors.js';
import { ProtocolError, SizeLimitExceeded } from '../../src/errors.js';
import { readCapped } from '../../src/http/request.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';

const twoChunks = (): Readable => Readable.from([Buffer.alloc(600, 1), Buffer.alloc(600, 2)]);

describe('readBody', () => {
  test('holds a body up to the cap; past it cuts there or rejects with the given error', async () => {
    expect((await readBody(twoChunks(), { maxBytes: 1200, over: 'cut' })).byteLength).toBe(1200);
    const cut = await readBody(twoChunks(), { maxBytes: 1000, over: 'cut' });
    expect(cut).toEqual(Buffer.concat([Buffer.alloc(600, 1), Buffer.alloc(400, 2)]));
    const refused = new Error('too big');
    const over = twoChunks();
    await expect(readBody(over, { maxBytes: 1000, over: () => refused })).rejects.toBe(refused);
    expect(over.destroyed).toBe(true);
  });

  test('a silence past the stall limit destroys the body with the stall error; an abort with its reason', async () => {
    const stalled = new PassThrough();
    stalled.write('{"a":');
    const stall = { ms: 50, error: (ms: number) => new Error(`quiet ${ms} ms`) };
    await expect(readBody(stalled, { maxBytes: 100, over: 'cut', stall })).rejects.toThrow('quiet 50 ms');
    const aborted = new AbortController();
    const reason = new Error('stop');
    const held = new PassThrough();
    const reading = readBody(held, { maxBytes: 100, over: 'cut', signal: aborted.signal });
    aborted.abort(reason);
    await expect(reading).rejects.toBe(reason);
    const already = new PassThrough();
    await expect(
      readBody(already, { maxBytes: 1, over: 'cut', signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });
});

describe('the router side: readCapped', () => {
  test('a body that stalls is a ProtocolError after the stall limit; one past its cap is refused or cut', async () => {
    const stalled = new PassThrough();
    stalled.write('{"exitCode":');
    await expect(readCapped(stalled, 1 << 20, undefined, 'throw', 100)).rejects.toThrow(/no byte for 100 ms/);
    await expect(readCapped(twoChunks(), 1000, undefined, 'throw')).rejects.toBeInstanceOf(SizeLimitExceeded);
    const quoted = await readCapped(twoChunks(), 1000, undefined, 'cut');
    expect(quoted.byteLength).toBe(1000);
  });

  test('a body that breaks off is a ProtocolError', async () => {
    const broken = new PassThrough();
    broken.write('{"exitCode":');
    setImmediate(() => broken.destroy(new Error('socket hang up')));
    const failure = readCapped(broken, 1 << 20, undefined, 'throw');
    await expect(failure).rejects.toBeInstanceOf(ProtocolError);
    await expect(failure).rejects.toThrow("the router's answer broke off: socket hang up");
  });
});

describe('the API server side', () => {
  test('an answer over 16 MiB is a KubernetesError naming the call, and is not read to its end', async () => {
    let written = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // 64 MiB offered; the client stops reading soon after 16 MiB.
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const more = (): void => {
        while (written < 64 << 20 && !res.destroyed) {
          written += chunk.byteLength;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'sandbank-body-'));
    try {
      const kubeconfig = writeKubeconfig(dir, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const api = new KubeApi(loadKubeConfig({ kubeconfig }));
      const failure = api.call('listing claims', 'GET', '/apis/x');
      await expect(failure).rejects.toBeInstanceOf(KubernetesError);
      await expect(failure).rejects.toThrow(`listing claims: an answer over ${16 << 20} bytes`);
      expect(written).toBeLessThan(64 << 20);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
