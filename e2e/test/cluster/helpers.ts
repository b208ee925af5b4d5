// Shared by the cluster suite's files: the cluster the global setup started, kubectl, the
// router (HTTPS and WebSocket exec over TLS) and waits on claims and pools.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { type KubeConfig, loadKubeConfig } from '@sandbank/kube';
import WebSocket from 'ws';
import { kubectlFor } from '../../src/cluster/kubectl.js';
import type { Kubectl } from '../../src/cluster/kubectl.js';
import { type Obj, isReady, waitFor } from '@sandbank/testing';

/** The example template and pool make up installs. */
export const POOL_NS = 'default';
export const POOL = 'python-runtime';
export const SYSTEM_NS = 'sandbank-system';
export const ROUTER_DEPLOYMENT = 'sandbox-router-deployment';
export const CONTROLLER_DEPLOYMENT = 'sandbank-controller';

export const CLAIMS = '/apis/extensions.agents.x-k8s.io/v1alpha1';
export const SANDBOXES = '/apis/agents.x-k8s.io/v1alpha1';

export interface Cluster {
  stateDir: string;
  kubeconfigPath: string;
  nodeIp: string;
  kubectl: Kubectl;
  kc: KubeConfig;
}

/** The cluster of the global setup (SANDBANK_CLUSTER_STATE). */
export function cluster(): Cluster {
  const stateDir = process.env['SANDBANK_CLUSTER_STATE'];
  if (!stateDir) throw new Error('SANDBANK_CLUSTER_STATE is not set: run this file in the cluster suite');
  const kubeconfigPath = join(stateDir, 'kubeconfig');
  return {
    stateDir,
    kubeconfigPath,
    nodeIp: readFileSync(join(stateDir, 'baseline', 'node-ip'), 'utf8').trim(),
    kubectl: kubectlFor(kubeconfigPath),
    kc: loadKubeConfig(kubeconfigPath),
  };
}

export async function getJson<T>(c: Cluster, args: readonly string[]): Promise<T> {
  return JSON.parse(await c.kubectl(['get', ...args, '-o', 'json'])) as T;
}

export function claimYaml(name: string, template = POOL): string {
  return [
    'apiVersion: extensions.agents.x-k8s.io/v1alpha1',
    'kind: SandboxClaim',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  sandboxTemplateRef:',
    `    name: ${template}`,
    '',
  ].join('\n');
}

/** Applies a claim and waits until it is Ready; resolves with the claim. */
export async function claimSandbox(c: Cluster, name: string, ns = POOL_NS, template = POOL): Promise<Obj> {
  await c.kubectl(['apply', '-n', ns, '-f', '-'], { input: claimYaml(name, template) });
  return waitClaimReady(c, ns, name);
}

export async function waitClaimReady(c: Cluster, ns: string, name: string, timeoutMs = 60_000): Promise<Obj> {
  const claim = await waitFor<Obj & { apiVersion?: string; kind?: string }>(
    c.kc,
    `${CLAIMS}/namespaces/${ns}/sandboxclaims`,
    name,
    isReady,
    { timeoutMs, description: `claim ${ns}/${name} Ready` },
  );
  if (!claim) throw new Error(`claim ${ns}/${name} vanished`);
  return claim;
}

/** The setup of a file whose tests share one claimed sandbox: the cluster, its router, the claim Ready. */
export async function claimForSuite(name: string): Promise<{ c: Cluster; r: Router }> {
  const c = cluster();
  const r = await router(c);
  await claimSandbox(c, name);
  return { c, r };
}

/** Deletes a claim and waits until its Sandbox is gone (the pod follows by garbage collection). */
export async function releaseSandbox(c: Cluster, name: string, ns = POOL_NS): Promise<void> {
  await c.kubectl(['delete', 'sandboxclaim', name, '-n', ns, '--ignore-not-found', '--wait=true']);
}

export async function waitPoolReady(
  c: Cluster,
  n = 2,
  ns = POOL_NS,
  pool = POOL,
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    c.kc,
    `${CLAIMS}/namespaces/${ns}/sandboxwarmpools`,
    pool,
    (p) => p?.status?.readyReplicas === n,
    { timeoutMs, description: `pool ${ns}/${pool} with ${n} ready members` },
  );
}

export async function waitRollout(c: Cluster, deployment: string, ns = SYSTEM_NS): Promise<void> {
  await c.kubectl(['rollout', 'status', '-n', ns, `deployment/${deployment}`, '--timeout=180s'], {
    timeoutMs: 200_000,
  });
}

// --- the router ---------------------------------------------------------------------------------

export interface Router {
  /** https://<ClusterIP of sandbox-router-svc>:8080 (the host reaches ClusterIPs through kube-proxy). */
  url: string;
  token: string;
  /** The CA that signed the router's certificate (make up made it for this cluster). */
  ca: Buffer;
}

/** The router's CA, which up.sh keeps in the state dir (and in the Secret sandbox-router-tls). */
export function routerCaFile(c: Cluster = cluster()): string {
  return join(c.stateDir, 'router-tls', 'ca.crt');
}

export async function router(c: Cluster): Promise<Router> {
  const ip = await c.kubectl([
    'get',
    'svc',
    'sandbox-router-svc',
    '-n',
    SYSTEM_NS,
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  const b64 = await c.kubectl([
    'get',
    'secret',
    'sandbox-router-auth',
    '-n',
    SYSTEM_NS,
    '-o',
    'jsonpath={.data.token}',
  ]);
  return {
    url: `https://${ip}:8080`,
    token: Buffer.from(b64, 'base64').toString('utf8'),
    ca: readFileSync(routerCaFile(c)),
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Whole request, default 30 s. */
  timeoutMs?: number;
  /** Receives the body as it arrives instead of keeping it (body is then empty). */
  onData?: (chunk: Buffer) => void;
  /** For https:// URLs, the CA to trust; default the router's (routerCaFile). */
  ca?: Buffer;
}

/**
 * One HTTP(S) request on its own connection (no keep-alive: each request picks a router anew).
 * An https:// URL is verified against the router's CA, never against nothing.
 */
export function http(url: string, opts: HttpOptions = {}): Promise<HttpResult> {
  return new Promise((resolvePromise, reject) => {
    const common = { method: opts.method ?? 'GET', headers: opts.headers, agent: false };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => (opts.onData ? opts.onData(c) : chunks.push(c)));
      res.on('end', () => {
        clearTimeout(timer);
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    };
    const req = url.startsWith('https:')
      ? httpsRequest(url, { ...common, ca: opts.ca ?? readFileSync(routerCaFile()) }, onResponse)
      : request(url, common, onResponse);
    const timer = setTimeout(() => {
      const err = new Error(`timeout after ${opts.timeoutMs ?? 30_000} ms`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    }, opts.timeoutMs ?? 30_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

export interface ExecResult {
  exitCode: number;
  signal: string;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

export function sandboxUrl(r: Router, ns: string, name: string, path: string): string {
  return `${r.url}/v1/namespaces/${ns}/sandboxes/${name}/${path}`;
}

/** POST …/exec; rejects on any status but 200. */
export async function exec(
  r: Router,
  ns: string,
  name: string,
  body: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<ExecResult> {
  const res = await http(sandboxUrl(r, ns, name, 'exec'), {
    method: 'POST',
    headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    timeoutMs,
    ca: r.ca,
  });
  if (res.status !== 200) throw new Error(`exec ${name}: HTTP ${res.status}: ${res.body.toString()}`);
  return JSON.parse(res.body.toString()) as ExecResult;
}

export const sh = (r: Router, name: string, script: string, ns = POOL_NS): Promise<ExecResult> =>
  exec(r, ns, name, { shell: script });

export interface WsSession {
  ws: WebSocket;
  /** stdout so far */
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`. */
  waitStdout(text: string, timeoutMs?: number): Promise<void>;
  /** The `exit` frame (the session closes after it). */
  exit: Promise<Record<string, unknown>>;
}

/** WebSocket exec (subprotocol sandbank.exec.v1): sends `start`, collects output until `exit`. */
export function wsExec(
  r: Router,
  ns: string,
  name: string,
  start: Record<string, unknown>,
): Promise<WsSession> {
  const url = sandboxUrl(r, ns, name, 'exec').replace(/^http/, 'ws');
  const ws = new WebSocket(url, 'sandbank.exec.v1', {
    headers: { authorization: `Bearer ${r.token}` },
    ca: r.ca,
  });
  let out = '';
  let err = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const exit = new Promise<Record<string, unknown>>((resolveExit, rejectExit) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        if (data[0] === 1) out += data.subarray(1).toString('utf8');
        else if (data[0] === 2) err += data.subarray(1).toString('utf8');
        for (const w of waiters.filter((x) => out.includes(x.text))) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
        return;
      }
      const msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (msg['type'] === 'exit') resolveExit(msg);
      else if (msg['type'] === 'error') rejectExit(new Error(`exec error frame: ${JSON.stringify(msg)}`));
    });
    ws.on('close', (code, reason) =>
      rejectExit(new Error(`closed before exit: ${code} ${reason.toString()}`)),
    );
    ws.on('error', rejectExit);
  });
  exit.catch(() => undefined);
  return new Promise((resolvePromise, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'start', ...start }));
      resolvePromise({
        ws,
        stdout: () => out,
        stderr: () => err,
        waitStdout: (text, timeoutMs = 30_000) =>
          out.includes(text)
            ? Promise.resolve()
            : new Promise<void>((res, rej) => {
                const t = setTimeout(
                  () =>
                    rej(
                      new Error(`no "${text}" on stdout within ${timeoutMs} ms; got ${JSON.stringify(out)}`),
                    ),
                  timeoutMs,
                );
                waiters.push({
                  text,
                  resolve: () => {
                    clearTimeout(t);
                    res();
                  },
                });
              }),
        exit,
      });
    });
  });
}

/** Milliseconds since `t0` (performance.now()), rounded. */
export const since = (t0: number): number => Math.round(performance.now() - t0);

// --- reachability probes from inside a pod ------------------------------------------------------

// A python3 script: connects to each host:port argument with a 3 s timeout and prints one line per
// target: "<target> open", "refused" (ECONNREFUSED: a REJECT), "timeout" (a DROP), "unreachable"
// (ENETUNREACH or EHOSTUNREACH: no route) or "error <exception> <errno>" for any other socket
// error. Anything that is not a socket error (a bad target, a missing python3) makes the exec
// fail instead of looking like a block.
export const CONNECT_PROBE = `
import errno, socket, sys
for t in sys.argv[1:]:
    host, port = t.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        print(t, "open")
    except ConnectionRefusedError:
        print(t, "refused")
    except socket.timeout:
        print(t, "timeout")
    except OSError as e:
        print(t, "unreachable" if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else f"error {type(e).__name__} {e.errno}")
    finally:
        s.close()
`;

/** CONNECT_PROBE's answers by target; fails on a line that is not one, or on a target answered twice. */
export function probeAnswers(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n').filter((l) => l !== '')) {
    const m = /^(\S+) (open|refused|timeout|unreachable|error .*)$/.exec(line);
    if (!m?.[1] || !m[2] || m[1] in out) throw new Error(`unexpected probe output line: ${line}`);
    out[m[1]] = m[2];
  }
  return out;
}
