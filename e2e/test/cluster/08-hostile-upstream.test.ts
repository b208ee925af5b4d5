// A hostile sandbox cannot disturb another tenant through the shared router. Tenant B's template
// runs, instead of the agent, a server on the agent's legacy port that answers every request with
// something a router must not trust: status lines outside 100-599, a 1xx storm, a 200 kB header,
// a body cut by a reset, a body that drips, NUL in a header, cookies and HTML, bytes that are not
// HTTP. While B's requests go through the router, tenant A's WebSocket exec streams its output:
// A's session gets every line and its exit, B gets the router's own answers (502 with the error
// body, never a pod's cookie), and the router pods neither restart nor change.
import { type Obj } from '@sandbank/testing';
import {
  POOL_NS,
  SYSTEM_NS,
  claimForSuite,
  getJson,
  http,
  releaseSandbox,
  sh,
  waitClaimReady,
  wsExec,
} from './helpers.js';
import type { Cluster, HttpResult, Router } from './helpers.js';

const VICTIM = 'e2e-victim';
const HOSTILE_NS = 'e2e-hostile';
const HOSTILE = 'hostile';

/** One answer per connection, in turn; each connection gets its own thread (a drip blocks none). */
const SERVER = String.raw`
import socket, threading, time
ANSWERS = [
    b"HTTP/1.1 099 Below\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 000 Zero\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 099 Below\r\n\r\n",
    b"HTTP/1.1 103 Early\r\nLink: </x>\r\n\r\n" * 2000 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n",
    b"RESET",
    b"DRIP",
    b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=stolen; Path=/\r\nContent-Type: text/html\r\nContent-Length: 23\r\n\r\n<script>steal()</script>",
    b"\x00\x01\x02 this is not HTTP\r\n\r\n",
]
turn = [0]
lock = threading.Lock()
def serve(conn):
    try:
        conn.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        with lock:
            answer = ANSWERS[turn[0] % len(ANSWERS)]
            turn[0] += 1
        if answer == b"RESET":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif answer == b"DRIP":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            for _ in range(10):
                time.sleep(0.5)
                conn.sendall(b"x")
        else:
            conn.sendall(answer)
    except OSError:
        pass
    finally:
        conn.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8888))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const hostileTemplate = {
  apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
  kind: 'SandboxTemplate',
  metadata: { name: HOSTILE },
  spec: {
    podTemplate: {
      spec: {
        runtimeClassName: 'gvisor',
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsNonRoot: true, runAsUser: 1000 },
        containers: [
          {
            name: 'runtime',
            image: 'localhost/sandbank-runtime:local',
            imagePullPolicy: 'Never',
            command: ['python3', '-c', SERVER],
            ports: [{ name: 'legacy', containerPort: 8888, protocol: 'TCP' }],
            readinessProbe: { tcpSocket: { port: 8888 }, periodSeconds: 1 },
            resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
          },
        ],
      },
    },
  },
};

const hostileClaim = {
  apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
  kind: 'SandboxClaim',
  metadata: { name: HOSTILE },
  spec: { sandboxTemplateRef: { name: HOSTILE } },
};

let c: Cluster;
let r: Router;

beforeAll(async () => {
  ({ c, r } = await claimForSuite(VICTIM));
  await c.kubectl(['create', 'namespace', HOSTILE_NS]).catch(() => undefined);
  await c.kubectl(['apply', '-n', HOSTILE_NS, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [hostileTemplate, hostileClaim] }),
  });
  await waitClaimReady(c, HOSTILE_NS, HOSTILE, 180_000);
}, 300_000);

afterAll(async () => {
  await releaseSandbox(c, VICTIM);
  await c.kubectl(['delete', 'namespace', HOSTILE_NS, '--wait=true'], { timeoutMs: 180_000 });
}, 240_000);

interface RouterPod {
  name: string;
  restarts: number;
}

async function routerPods(): Promise<RouterPod[]> {
  const pods = await getJson<{
    items: (Obj & { status?: { containerStatuses?: { restartCount: number }[] } })[];
  }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']);
  return pods.items
    .map((p) => ({
      name: p.metadata.name,
      restarts: (p.status?.containerStatuses ?? []).reduce((n, s) => n + s.restartCount, 0),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** One request to the hostile sandbox through the router's legacy surface. */
function hostileRequest(i: number): Promise<HttpResult> {
  return http(`${r.url}/execute`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${r.token}`,
      'content-type': 'application/json',
      'x-sandbox-id': HOSTILE,
      'x-sandbox-namespace': HOSTILE_NS,
    },
    body: JSON.stringify({ command: `echo ${i}` }),
    timeoutMs: 60_000,
    ca: r.ca,
  });
}

test('a sandbox answering hostile HTTP cannot disturb another tenant’s running exec', async () => {
  const before = await routerPods();
  expect(before.length).toBeGreaterThan(0);

  const LINES = 40;
  const victim = await wsExec(r, POOL_NS, VICTIM, {
    command: ['sh', '-c', `for i in $(seq 1 ${LINES}); do echo line-$i; sleep 0.25; done`],
  });
  await victim.waitStdout('line-1\n', 60_000);

  // Three rounds over every hostile answer, a few at a time, while the victim streams.
  const ROUNDS = 3;
  const results: { status: number | string; cookie: boolean; body: string }[] = [];
  const total = ROUNDS * 10;
  let nextRequest = 0;
  const client = async (): Promise<void> => {
    while (nextRequest < total) {
      const i = nextRequest++;
      try {
        const res = await hostileRequest(i);
        results.push({
          status: res.status,
          cookie: res.headers['set-cookie'] !== undefined,
          body: res.body.toString('utf8', 0, Math.min(res.body.length, 4000)),
        });
      } catch (err) {
        // The router may cut a response whose upstream died mid-body: that request only.
        results.push({ status: (err as NodeJS.ErrnoException).code ?? String(err), cookie: false, body: '' });
      }
    }
  };
  await Promise.all([client(), client(), client()]);

  const exit = await victim.exit;
  expect(exit['exitCode']).toBe(0);
  const expected = Array.from({ length: LINES }, (_, i) => `line-${i + 1}`).join('\n') + '\n';
  expect(victim.stdout()).toBe(expected);

  process.stderr.write(
    `[e2e] hostile upstream: ${results.length} requests, statuses ${JSON.stringify(
      results.reduce<Record<string, number>>(
        (m, x) => ({ ...m, [String(x.status)]: (m[String(x.status)] ?? 0) + 1 }),
        {},
      ),
    )}\n`,
  );
  expect(results).toHaveLength(total);
  // No pod's cookie ever reaches a client as if the router had set it.
  expect(results.filter((x) => x.cookie)).toEqual([]);
  // Status lines the router cannot forward become its own 502 with its (legacy-style) error body.
  const bad = results.filter((x) => x.status === 502);
  expect(bad.length).toBeGreaterThanOrEqual(ROUNDS * 3);
  for (const b of bad) expect(JSON.parse(b.body)).toHaveProperty('detail');
  // Nothing a pod answers turns into a router failure of another kind.
  expect(
    results.filter(
      (x) => typeof x.status === 'number' && x.status >= 500 && x.status !== 502 && x.status !== 504,
    ),
  ).toEqual([]);

  // The router pods are the same ones, never restarted, and still serve the victim.
  expect(await routerPods()).toEqual(before);
  const after = await sh(r, VICTIM, 'echo still-here');
  expect(after.stdout).toBe('still-here\n');
}, 300_000);
