/**
 * Commands against a loopback router: what `run`, `spawn` and the background-process calls send,
 * how they read the answers, and which failures are resent (only what cannot run twice).
 */
import { Agent, createServer } from 'node:http';
import type WebSocket from 'ws';
import { Commands } from '../../src/commands/commands.js';
import { ProtocolError, RouterUnreachable, StreamClosed } from '../../src/errors.js';
import {
  FailedPrecondition,
  Internal,
  NotFound,
  PermissionDenied,
  SandboxOomKilled,
  UpstreamFailed,
} from '../../src/generated/router-errors.js';
import {
  ATTACH_HEADERS,
  attachedFrame,
  EXIT,
  frame,
  json,
  PREFIX,
  processBody,
  routerError,
  startFakeRouter,
  TARGET,
} from './hostile-router.js';
import type { FakeRouter } from './hostile-router.js';

let router: FakeRouter | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const execAnswer = {
  ...EXIT,
  exitCode: 3,
  stdout: Buffer.from('out\u0000bytes').toString('base64'),
  stderr: Buffer.from('err').toString('base64'),
  encoding: 'base64',
};

describe('run', () => {
  test('sends the command, stdin and trace context, and decodes the output', async () => {
    router = await startFakeRouter((_req, res) => json(res, 200, execAnswer));
    const commands = new Commands(router.conn, TARGET);
    const result = await commands.run(['printf', 'x'], {
      stdin: 'in',
      env: { A: '1' },
      cwd: 'sub',
      timeoutMs: 5000,
      maxOutputBytes: 1024,
      traceparent: TRACEPARENT,
    });
    expect(result).toMatchObject({ exitCode: 3, stdout: 'out\u0000bytes', stderr: 'err', truncated: false });
    const [sent] = router.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.url.pathname).toBe(`${PREFIX}/exec`);
    expect(sent?.headers['authorization']).toBe('Bearer test-token-0123456789');
    expect(sent?.headers['traceparent']).toBe(TRACEPARENT);
    expect(JSON.parse(sent?.body.toString() ?? '')).toEqual({
      command: ['printf', 'x'],
      env: { A: '1' },
      cwd: 'sub',
      timeoutMs: 5000,
      stdin: Buffer.from('in').toString('base64'),
      stdinEncoding: 'base64',
      outputEncoding: 'base64',
      maxOutputBytes: 1024,
    });
  });

  test('a string runs as a shell command; bad arguments fail naming the field, before any request', async () => {
    router = await startFakeRouter((_req, res) => json(res, 200, { ...execAnswer, exitCode: 0 }));
    const commands = new Commands(router.conn, TARGET);
    await commands.run('echo hi | wc -c');
    expect(JSON.parse(router.requests[0]?.body.toString() ?? '')).toMatchObject({ shell: 'echo hi | wc -c' });
    await expect(commands.run([])).rejects.toThrow(/^command:/);
    await expect(commands.run('x', { maxOutputBytes: 5 << 20 })).rejects.toThrow(/^maxOutputBytes:/);
    await expect(commands.run('x', { traceparent: 'nope' })).rejects.toThrow(/^traceparent:/);
    expect(router.requests).toHaveLength(1);
  });

  test('a code answered before the sandbox was reached is resent, after Retry-After', async () => {
    router = await startFakeRouter((_req, res, _body, index) =>
      index === 0
        ? routerError(res, 503, 'sandbox_not_ready', { 'retry-after': '0' })
        : json(res, 200, execAnswer),
    );
    const result = await new Commands(router.conn, TARGET).run('true');
    expect(result.exitCode).toBe(3);
    expect(router.requests).toHaveLength(2);
  });

  test('a retryable code after the command may have run is not resent: exec is not idempotent', async () => {
    router = await startFakeRouter((_req, res) => routerError(res, 502, 'upstream_failed'));
    await expect(new Commands(router.conn, TARGET).run('true')).rejects.toBeInstanceOf(UpstreamFailed);
    expect(router.requests).toHaveLength(1);
  });

  test('an answer that is not the router JSON is a ProtocolError naming the field', async () => {
    router = await startFakeRouter((_req, res) => json(res, 200, { ...execAnswer, exitCode: 'three' }));
    await expect(new Commands(router.conn, TARGET).run('true')).rejects.toThrow(/^exec\.exitCode:/);
    await router.close();
    router = await startFakeRouter((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>bad gateway</h1>');
    });
    await expect(new Commands(router.conn, TARGET).run('true')).rejects.toBeInstanceOf(ProtocolError);
    expect(router.requests).toHaveLength(1);
  });

  test('the caller aborting ends the call with its reason', async () => {
    let arrived: () => void = () => undefined;
    const received = new Promise<void>((resolve) => (arrived = resolve));
    router = await startFakeRouter(() => arrived()); // never answers
    const controller = new AbortController();
    const call = new Commands(router.conn, TARGET).run('sleep 100', { signal: controller.signal });
    await received;
    controller.abort(new Error('caller gave up'));
    await expect(call).rejects.toThrow('caller gave up');
  });
});

describe('background processes', () => {
  test('start, list, get, stdin, signal, resize, remove: paths and bodies', async () => {
    router = await startFakeRouter((req, res) => {
      if (req.method === 'POST' && req.url === `${PREFIX}/processes`) return json(res, 201, processBody());
      if (req.method === 'GET' && req.url === `${PREFIX}/processes`)
        return json(res, 200, { processes: [processBody()] });
      if (req.method === 'GET') return json(res, 200, processBody());
      if (req.method === 'DELETE') return routerError(res, 409, 'failed_precondition');
      res.writeHead(204).end();
    });
    const commands = new Commands(router.conn, TARGET);
    const started = await commands.start('work', { pty: { rows: 24, cols: 80 }, env: { K: 'v' } });
    expect(started.id).toBe('p-1');
    expect((await commands.list()).map((p) => p.pid)).toEqual([42]);
    expect((await commands.get('p-1')).state).toBe('running');
    await commands.writeStdin('p-1', 'keys', { close: true });
    await commands.signal('p-1', 'int');
    await commands.resize('p-1', { rows: 50, cols: 120 });
    await expect(commands.remove('p-1')).rejects.toBeInstanceOf(FailedPrecondition);
    await expect(commands.get('../x')).rejects.toThrow(/^id:/);
    await expect(commands.signal('p-1', 'SIGUSR1')).rejects.toThrow(/^signal:/);
    const bodies = router.requests.map((r) => [r.method, r.url.pathname, r.body.toString()]);
    expect(bodies).toEqual([
      [
        'POST',
        `${PREFIX}/processes`,
        '{"shell":"work","env":{"K":"v"},"stdin":true,"tty":{"cols":80,"rows":24}}',
      ],
      ['GET', `${PREFIX}/processes`, ''],
      ['GET', `${PREFIX}/processes/p-1`, ''],
      [
        'POST',
        `${PREFIX}/processes/p-1/stdin`,
        `{"data":"${Buffer.from('keys').toString('base64')}","encoding":"base64","close":true}`,
      ],
      ['POST', `${PREFIX}/processes/p-1/signal`, '{"signal":"SIGINT"}'],
      ['POST', `${PREFIX}/processes/p-1/resize`, '{"cols":120,"rows":50}'],
      ['DELETE', `${PREFIX}/processes/p-1`, ''],
    ]);
  });

  test('an idempotent read is resent after a retryable code; one that is not retryable is not', async () => {
    router = await startFakeRouter((_req, res, _body, index) =>
      index === 0 ? routerError(res, 500, 'internal') : routerError(res, 404, 'not_found'),
    );
    await expect(new Commands(router.conn, TARGET).list()).rejects.toBeInstanceOf(NotFound);
    expect(router.requests).toHaveLength(2);
    await router.close();
    router = await startFakeRouter((_req, res) => routerError(res, 500, 'internal'));
    // Not idempotent: a start the router may have passed on is never sent twice.
    await expect(new Commands(router.conn, TARGET).start('x')).rejects.toBeInstanceOf(Internal);
    expect(router.requests).toHaveLength(1);
  });

  test('a connection that breaks before an answer: a read is resent, a start is not', async () => {
    router = await startFakeRouter((req, res, _body, index) => {
      if (index === 0 || req.method === 'POST') return void req.socket.destroy();
      json(res, 200, { processes: [] });
    });
    const commands = new Commands(router.conn, TARGET);
    expect(await commands.list()).toEqual([]);
    expect(router.requests).toHaveLength(2);
    await expect(commands.start('x')).rejects.toBeInstanceOf(RouterUnreachable);
    expect(router.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  test('a described process whose exit does not match its state is a ProtocolError', async () => {
    router = await startFakeRouter((_req, res) =>
      json(res, 200, processBody({ state: 'exited', exit: null })),
    );
    await expect(new Commands(router.conn, TARGET).get('p-1')).rejects.toThrow(/^process\.exit:/);
  });

  test('wait calls again while the router answers running, and returns the exited process', async () => {
    router = await startFakeRouter((_req, res, _body, index) =>
      json(res, 200, index < 2 ? processBody() : processBody({ state: 'exited', exit: EXIT })),
    );
    const info = await new Commands(router.conn, TARGET).wait('p-1');
    expect(info.exit?.exitCode).toBe(0);
    expect(router.requests).toHaveLength(3);
    expect(JSON.parse(router.requests[0]?.body.toString() ?? '')).toEqual({ timeoutMs: 60_000 });
  });

  test('attach reads the frames, and resumes from the next offset after a cut connection', async () => {
    const seen: string[] = [];
    router = await startFakeRouter((req, res) => {
      seen.push(new URL(req.url ?? '', 'http://x').search);
      res.writeHead(200, ATTACH_HEADERS);
      if (seen.length === 1) {
        res.write(Buffer.concat([attachedFrame(0), frame(1, 0, 'hello '), frame(2, 6, 'warn')]));
        // Cut the connection mid-stream, as a router restarting would.
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.end(Buffer.concat([attachedFrame(10), frame(1, 10, 'world'), frame(3, 15, EXIT)]));
    });
    const attachment = await new Commands(router.conn, TARGET).attach('p-1');
    const chunks: string[] = [];
    for await (const out of attachment)
      chunks.push(`${out.stream}@${out.offset}:${Buffer.from(out.data).toString()}`);
    expect(chunks).toEqual(['stdout@0:hello ', 'stderr@6:warn', 'stdout@10:world']);
    expect(seen).toEqual(['?fromOffset=0&follow=true', '?fromOffset=10&follow=true']);
    expect(attachment.exit?.exitCode).toBe(0);
    expect(attachment.nextOffset).toBe(15);
    expect(attachment.process.id).toBe('p-1');
  });

  test('attach to a process the router does not know is its NotFound', async () => {
    router = await startFakeRouter((_req, res) => routerError(res, 404, 'not_found'));
    await expect(new Commands(router.conn, TARGET).attach('p-9')).rejects.toBeInstanceOf(NotFound);
  });
});

describe('spawn', () => {
  /** A WebSocket session that answers the start frame with `script` once it arrives. */
  function session(
    script: (ws: WebSocket, start: Record<string, unknown>, texts: unknown[], binary: Buffer[]) => void,
  ) {
    return (ws: WebSocket): void => {
      const texts: unknown[] = [];
      const binary: Buffer[] = [];
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) return void binary.push(data);
        const message = JSON.parse(data.toString()) as Record<string, unknown>;
        texts.push(message);
        if (message['type'] === 'start') script(ws, message, texts, binary);
      });
    };
  }

  test('streams output, takes stdin, signals and resizes, and ends with the exit', async () => {
    let frames: { texts: unknown[]; binary: Buffer[] } | undefined;
    router = await startFakeRouter(
      () => undefined,
      session((ws, _start, texts, binary) => {
        frames = { texts, binary };
        ws.send(JSON.stringify({ type: 'started', pid: 7 }));
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('out-1 ')]));
        ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('err-1')]));
        ws.on('message', (data: Buffer, isBinary) => {
          if (!isBinary && (JSON.parse(data.toString()) as { type: string }).type === 'close_stdin') {
            ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('out-2')]));
            ws.send(JSON.stringify({ type: 'exit', ...EXIT, exitCode: 5 }));
            ws.close(1000, 'exit');
          }
        });
      }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn(['cat'], {
      pty: { rows: 10, cols: 20 },
      traceparent: TRACEPARENT,
    });
    expect(proc.pid).toBe(7);
    await proc.write('typed');
    await proc.resize({ rows: 11, cols: 21 });
    await proc.signal('SIGINT');
    await proc.end();
    let out = '';
    for await (const chunk of proc.stdout) out += Buffer.from(chunk).toString();
    const result = await proc.wait();
    expect(out).toBe('out-1 out-2');
    expect(Buffer.from(result.stderr).toString()).toBe('err-1'); // not iterated: kept for the result
    expect(result.exitCode).toBe(5);
    expect(frames?.texts).toEqual([
      { type: 'start', command: ['cat'], stdin: true, tty: { cols: 20, rows: 10 } },
      { type: 'resize', cols: 21, rows: 11 },
      { type: 'signal', signal: 'SIGINT' },
      { type: 'close_stdin' },
    ]);
    expect(Buffer.concat(frames?.binary ?? []).toString()).toBe('typed');
    const upgrade = router.requests.find((r) => r.method === 'WS');
    expect(upgrade?.url.pathname).toBe(`${PREFIX}/exec`);
    expect(upgrade?.headers['sec-websocket-protocol']).toBe('sandbank.exec.v1');
    expect(upgrade?.headers['traceparent']).toBe(TRACEPARENT);
    await expect(proc.write('late')).rejects.toBeInstanceOf(StreamClosed);
  });

  test('the web ReadableStream form carries the same bytes', async () => {
    router = await startFakeRouter(
      () => undefined,
      session((ws) => {
        ws.send(JSON.stringify({ type: 'started', pid: 1 }));
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('web ')]));
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('stream')]));
        ws.send(JSON.stringify({ type: 'exit', ...EXIT }));
        ws.close(1000, 'exit');
      }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn('x', { stdin: false });
    const text = await new Response(proc.stdout.readable()).text();
    expect(text).toBe('web stream');
    expect((await proc.wait()).exitCode).toBe(0);
    await expect(proc.stdout[Symbol.asyncIterator]().next()).rejects.toThrow(/read once/);
  });

  test('an error frame before start rejects spawn with the typed error', async () => {
    router = await startFakeRouter(
      () => undefined,
      session((ws) => {
        ws.send(JSON.stringify({ type: 'error', code: 'not_found', message: 'no such program' }));
        ws.close(4404, 'not_found: no such program');
      }),
    );
    await expect(new Commands(router.conn, TARGET).spawn(['nope'])).rejects.toBeInstanceOf(NotFound);
  });

  test('a close with the router code after start is that error from wait()', async () => {
    router = await startFakeRouter(
      () => undefined,
      session((ws) => {
        ws.send(JSON.stringify({ type: 'started', pid: 1 }));
        ws.close(4507, 'sandbox_oom_killed: the sandbox went over its memory limit');
      }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn(['big']);
    await expect(proc.wait()).rejects.toBeInstanceOf(SandboxOomKilled);
  });

  test('an upgrade the router refuses is its typed error', async () => {
    // The router refuses an upgrade with its plain HTTP error answer.
    const server = createServer();
    server.on('upgrade', (_req, socket) => {
      const body = '{"error":{"code":"permission_denied","message":"not yours"}}';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-sandbank-error-code: permission_denied\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const agent = new Agent();
    const conn = {
      origin: new URL(`http://127.0.0.1:${port}`),
      agent,
      headers: {},
      close: async () => undefined,
    };
    try {
      await expect(new Commands(conn, TARGET).spawn(['x'])).rejects.toBeInstanceOf(PermissionDenied);
    } finally {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
