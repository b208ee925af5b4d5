/**
 * The legacy python-runtime REST API, byte for byte: each route's status, content type and
 * exact body (success and error shapes of the FastAPI runtime in agent-sandbox's
 * examples/python-runtime-sandbox/main.py), checked over a real socket. Where the bytes come
 * from Python itself (float spelling of `mod_time`, Starlette's ETag recipe), the expectation is
 * computed by running python3 on the same files.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tokenDigest } from '../../src/index.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(20_000);

let agent: TestAgent;
/** A second agent whose exec timeout is short, for the one case where the timeout is the point. */
let hasty: TestAgent;
beforeAll(async () => {
  // Every other command finishes in milliseconds: a generous timeout, so a busy machine never
  // turns a slow fork into a timeout.
  agent = await startTestAgent({ SANDBOX_EXEC_TIMEOUT_SECONDS: '60' });
  hasty = await startTestAgent({ SANDBOX_EXEC_TIMEOUT_SECONDS: '0.5' });
});
afterAll(async () => {
  await agent.close();
  await hasty.close();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

function http(
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
  base = agent.restUrl,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    // Host, port and the raw path apart: a URL string would have `..` normalized away.
    const url = new URL(base);
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString() });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };
const execute = (command: unknown) => http('POST', '/execute', JSON.stringify({ command }), json);

function multipart(
  filename: string,
  content: Buffer | string,
  field = 'file',
): { body: Buffer; headers: Record<string, string> } {
  const boundary = '----sandbank-test-boundary';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    Buffer.from(content),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const python = (script: string, ...args: string[]): string =>
  execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });

describe('GET /', () => {
  it('answers the health document', async () => {
    const r = await http('GET', '/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.text).toBe('{"status":"ok","message":"Sandbox Runtime is active."}');
    expect(r.headers['content-length']).toBe(String(r.body.length));
  });
});

describe('POST /execute', () => {
  it.each([
    ['echo hello world', '{"stdout":"hello world\\n","stderr":"","exit_code":0}'],
    ['echo $HOME && ls', '{"stdout":"$HOME && ls\\n","stderr":"","exit_code":0}'],
    [`printf '%s|' 'a b' "c d" e\\ f`, '{"stdout":"a b|c d|e f|","stderr":"","exit_code":0}'],
    [`sh -c 'echo out; echo err >&2; exit 3'`, '{"stdout":"out\\n","stderr":"err\\n","exit_code":3}'],
    [`printf 'a\\r\\nb\\rc\\xc3\\xa9'`, '{"stdout":"a\\nb\\ncé","stderr":"","exit_code":0}'],
    [`sh -c 'kill -9 $$'`, '{"stdout":"","stderr":"","exit_code":-9}'],
    [
      'no-such-command --flag',
      `{"stdout":"","stderr":"Failed to execute command: [Errno 2] No such file or directory: 'no-such-command'","exit_code":1}`,
    ],
    [
      'echo "unclosed',
      '{"stdout":"","stderr":"Failed to execute command: No closing quotation","exit_code":1}',
    ],
    ['   ', '{"stdout":"","stderr":"Failed to execute command: list index out of range","exit_code":1}'],
  ])('%s', async (command, expected) => {
    const r = await execute(command);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.text).toBe(expected);
  });

  it('reports a command that outlives SANDBOX_EXEC_TIMEOUT_SECONDS as Python does, and kills it', async () => {
    // 0.5 s against a 60 s sleep: the timeout always wins, however loaded the machine.
    const r = await http('POST', '/execute', JSON.stringify({ command: 'sleep 60' }), json, hasty.restUrl);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.text).toBe(
      `{"stdout":"","stderr":"Failed to execute command: Command '['sleep', '60']' timed out after 0.5 seconds","exit_code":1}`,
    );
    expect(hasty.deps.runner.size).toBe(0); // the sleep was killed, not left behind
  });

  it('runs in the workspace root', async () => {
    expect((JSON.parse((await execute('pwd')).text) as { stdout: string }).stdout).toBe(`${agent.dir}\n`);
  });

  it.each([
    [
      'a missing command',
      '{}',
      '{"detail":[{"type":"missing","loc":["body","command"],"msg":"Field required","input":{}}]}',
    ],
    [
      'a command that is not a string',
      '{"command":5}',
      '{"detail":[{"type":"string_type","loc":["body","command"],"msg":"Input should be a valid string","input":5}]}',
    ],
    [
      'a body that is not an object',
      '["ls"]',
      '{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":["ls"]}]}',
    ],
    [
      'an empty body',
      '',
      '{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}',
    ],
    [
      'invalid JSON',
      '{"command": ',
      '{"detail":[{"type":"json_invalid","loc":["body",12],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]}',
    ],
    [
      'trailing data after the JSON',
      '{"command":"ls"} x',
      '{"detail":[{"type":"json_invalid","loc":["body",17],"msg":"JSON decode error","input":{},"ctx":{"error":"Extra data"}}]}',
    ],
  ])('rejects %s with FastAPI’s 422', async (_name, body, expected) => {
    const r = await http('POST', '/execute', body, json);
    expect(r.status).toBe(422);
    expect(r.text).toBe(expected);
  });
});

describe('POST /upload and GET /download', () => {
  it('stores the file at the relative path its filename names, creating parents', async () => {
    const { body, headers } = multipart('up/dir/hello.txt', 'hello upload');
    const r = await http('POST', '/upload', body, headers);
    expect(r.status).toBe(200);
    expect(r.text).toBe(`{"message":"File 'up/dir/hello.txt' uploaded successfully."}`);
    expect(await readFile(join(agent.dir, 'up/dir/hello.txt'), 'utf8')).toBe('hello upload');
  });

  it('drops leading slashes like upstream (an absolute filename lands in the workspace)', async () => {
    const { body, headers } = multipart('/abs.txt', 'abs');
    expect((await http('POST', '/upload', body, headers)).status).toBe(200);
    expect(await readFile(join(agent.dir, 'abs.txt'), 'utf8')).toBe('abs');
  });

  it('refuses destinations outside the workspace with 403 and writes nothing', async () => {
    await symlink('/tmp', join(agent.dir, 'tmp-link'));
    for (const name of ['../escape.txt', 'up/../../escape.txt', 'tmp-link/escape.txt']) {
      const { body, headers } = multipart(name, 'nope');
      const r = await http('POST', '/upload', body, headers);
      expect([r.status, r.text]).toEqual([403, '{"message":"Access denied"}']);
    }
  });

  it('answers 422 when the file field is missing', async () => {
    const { body, headers } = multipart('x.txt', 'x', 'other');
    const r = await http('POST', '/upload', body, headers);
    expect(r.status).toBe(422);
    expect(r.text).toBe(
      '{"detail":[{"type":"missing","loc":["body","file"],"msg":"Field required","input":null}]}',
    );
    const notMultipart = await http('POST', '/upload', '{}', json);
    expect(notMultipart.status).toBe(422);
  });

  it('answers a truncated multipart body with 422 and leaves no temporary file', async () => {
    const { body, headers } = multipart('cut/short.txt', 'x'.repeat(100_000));
    const r = await http('POST', '/upload', body.subarray(0, 50_000), headers);
    expect(r.status).toBe(422);
    const leftovers = await import('node:fs/promises').then((fs) =>
      fs.readdir(join(agent.dir, 'cut')).catch(() => []),
    );
    expect(leftovers.filter((n) => n.includes('sandbank-tmp'))).toEqual([]);
  });

  it('answers a multipart body cut inside a part it skips with 422, and keeps serving', async () => {
    const { body, headers } = multipart('skipped.txt', 'x'.repeat(100_000), 'other');
    const r = await http('POST', '/upload', body.subarray(0, 50_000), headers);
    expect(r.status).toBe(422);
    expect((await http('GET', '/list/')).status).toBe(200);
  });

  it('downloads with FileResponse headers (Starlette’s ETag recipe, computed by python3)', async () => {
    const content = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    await mkdir(join(agent.dir, 'dl'), { recursive: true });
    await writeFile(join(agent.dir, 'dl/data.bin'), content);
    const r = await http('GET', '/download/dl/data.bin');
    expect(r.status).toBe(200);
    expect(r.body.equals(content)).toBe(true);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['content-disposition']).toBe('attachment; filename="dl/data.bin"');
    expect(r.headers['content-length']).toBe('70000');
    const [etag, lastModified] = python(
      [
        'import os, sys, hashlib, email.utils',
        'st = os.stat(sys.argv[1])',
        'print(hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode()).hexdigest())',
        'print(email.utils.formatdate(st.st_mtime, usegmt=True))',
      ].join('\n'),
      join(agent.dir, 'dl/data.bin'),
    )
      .trim()
      .split('\n');
    expect(r.headers['etag']).toBe(`"${String(etag)}"`);
    expect(r.headers['last-modified']).toBe(lastModified);
  });

  it('percent-decodes the path twice, as uvicorn then the route do', async () => {
    await writeFile(join(agent.dir, 'dl/a b.txt'), 'spaced');
    expect((await http('GET', '/download/dl%2Fa%2520b.txt')).text).toBe('spaced');
    const r = await http('GET', '/download/dl/%C3%A9t%C3%A9.txt');
    expect(r.text).toBe('{"message":"File not found"}');
    await writeFile(join(agent.dir, 'dl/été.txt'), 'summer');
    const utf8 = await http('GET', '/download/dl/%C3%A9t%C3%A9.txt');
    expect(utf8.headers['content-disposition']).toBe("attachment; filename*=utf-8''dl/%C3%A9t%C3%A9.txt");
  });

  it('answers 404 for missing files and directories, 403 for escapes', async () => {
    for (const path of ['/download/missing.txt', '/download/dl', '/download/']) {
      const r = await http('GET', path);
      expect([r.status, r.text]).toEqual([404, '{"message":"File not found"}']);
    }
    for (const path of [
      '/download/..%2F..%2Fetc%2Fpasswd',
      '/download/%252e%252e/%252e%252e/etc/passwd',
      '/download/tmp-link/x',
      '/download/a%00b',
    ]) {
      const r = await http('GET', path);
      expect([r.status, r.text]).toEqual([403, '{"message":"Access denied"}']);
    }
  });
});

describe('GET /list and GET /exists', () => {
  it('lists a directory exactly as the python runtime would (checked against python3)', async () => {
    await mkdir(join(agent.dir, 'ls/sub'), { recursive: true });
    await writeFile(join(agent.dir, 'ls/b.txt'), 'bbb');
    await writeFile(join(agent.dir, 'ls/ä.txt'), 'umlaut');
    await symlink('sub', join(agent.dir, 'ls/link-to-dir'));
    const r = await http('GET', '/list/ls');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const expected = python(
      [
        'import os, sys, json',
        'entries = []',
        'with os.scandir(sys.argv[1]) as it:',
        '    for entry in sorted(it, key=lambda e: e.name.encode()):',
        '        st = entry.stat()',
        '        entries.append({"name": entry.name, "size": st.st_size,',
        '            "type": "directory" if entry.is_dir() else "file", "mod_time": st.st_mtime})',
        'sys.stdout.write(json.dumps(entries, ensure_ascii=False, separators=(",", ":")))',
      ].join('\n'),
      join(agent.dir, 'ls'),
    );
    expect(r.text).toBe(expected);
    expect((JSON.parse(r.text) as { name: string }[]).map((e) => e.name)).toEqual([
      'b.txt',
      'link-to-dir',
      'sub',
      'ä.txt',
    ]);
  });

  it('lists the root at /list/, and answers 404 and 403 like upstream', async () => {
    expect((JSON.parse((await http('GET', '/list/')).text) as unknown[]).length).toBeGreaterThan(0);
    for (const path of ['/list/missing', '/list/ls/b.txt']) {
      const r = await http('GET', path);
      expect([r.status, r.text]).toEqual([404, '{"message":"Path is not a directory"}']);
    }
    const r = await http('GET', '/list/..');
    expect([r.status, r.text]).toEqual([403, '{"message":"Access denied"}']);
  });

  it('reports existence with the decoded path', async () => {
    expect((await http('GET', '/exists/ls%2Fb.txt')).text).toBe('{"path":"ls/b.txt","exists":true}');
    expect((await http('GET', '/exists/ls/nothing')).text).toBe('{"path":"ls/nothing","exists":false}');
    expect((await http('GET', '/exists/')).text).toBe('{"path":"","exists":true}');
    const r = await http('GET', '/exists/../etc');
    expect([r.status, r.text]).toEqual([403, '{"message":"Access denied"}']);
  });
});

describe('routing like Starlette', () => {
  it('404s unknown paths, 405s known ones with another method, 307s a toggled trailing slash', async () => {
    const missing = await http('GET', '/nope');
    expect([missing.status, missing.text]).toEqual([404, '{"detail":"Not Found"}']);
    const wrongMethod = await http('GET', '/execute');
    expect([wrongMethod.status, wrongMethod.text, wrongMethod.headers['allow']]).toEqual([
      405,
      '{"detail":"Method Not Allowed"}',
      'POST',
    ]);
    const slash = await http('GET', '/list?x=1');
    expect(slash.status).toBe(307);
    expect(slash.headers['location']).toBe(`${agent.restUrl}/list/?x=1`);
  });
});

describe('with a sandbox token', () => {
  it('requires the bearer token on every route but GET /', async () => {
    const secured = await startTestAgent({ SANDBANK_AGENT_TOKEN_SHA256: tokenDigest('t0ken') });
    try {
      expect((await http('GET', '/', undefined, {}, secured.restUrl)).status).toBe(200);
      const denied = await http('POST', '/execute', '{"command":"true"}', json, secured.restUrl);
      expect([denied.status, denied.text]).toEqual([401, '{"detail":"Not authenticated"}']);
      const wrong = await http('GET', '/list/', undefined, { authorization: 'Bearer nope' }, secured.restUrl);
      expect(wrong.status).toBe(401);
      const ok = await http(
        'POST',
        '/execute',
        '{"command":"true"}',
        { ...json, authorization: 'Bearer t0ken' },
        secured.restUrl,
      );
      expect(ok.text).toBe('{"stdout":"","stderr":"","exit_code":0}');
    } finally {
      await secured.close();
    }
  });
});

describe('keep-alive', () => {
  it("keeps an idle connection open past a Node client's 5 s idle-socket timeout, so a late reuse is answered, not hung up", async () => {
    // A client (the router, a test) reuses an idle keep-alive socket when it is next needed; under
    // load it may do so after its own 5 s timer was due. Had the agent closed the socket at 5 s
    // (node:http's default), that request would meet the close: "socket hang up".
    const url = new URL(agent.restUrl);
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined); // seen as `closed`
    const answered = async (count: number): Promise<void> => {
      while ((received.match(/HTTP\/1\.1 200 OK/g) ?? []).length < count) {
        if (closed) throw new Error(`the agent closed the connection; received:\n${received}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const get = 'GET / HTTP/1.1\r\nHost: sandbox\r\n\r\n';
    socket.write(get);
    await answered(1);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(closed).toBe(false);
    socket.write(get);
    await answered(2);
    socket.destroy();
  });
});
