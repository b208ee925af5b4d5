/**
 * The client's one connection to the Kubernetes API server: the kubeconfig (or a pod's service
 * account), and plain JSON requests and watches over node:http(s), each bounded by a timeout and
 * stopped by the caller's AbortSignal. @kubernetes/client-node supplies the credentials (exec
 * plugins, tokens that refresh, client certificates) through `applyToHTTPSOptions`, asked again
 * before every call; the requests themselves are ours, so every one honours a signal.
 */
import { statSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigurationError, KubernetesError } from '../client-errors.js';
import { abortReason } from '../abort.js';
import { readBody } from '../body.js';

/**
 * Bound of an ordinary call. The API server answers in milliseconds, within seconds on a loaded
 * machine; this only stops waiting on a server that stopped answering.
 */
export const API_TIMEOUT_MS = 30_000;
/** How long a watch's read may stay silent beyond its `timeoutSeconds` (after which the server ends it). */
const WATCH_GRACE_MS = 10_000;
/**
 * A watch the server ended this soon is not followed at once by the next: a proxy or server that
 * ends every watch at once would otherwise be asked again in a tight loop until the deadline.
 */
const SHORT_WATCH_MS = 1_000;
const REWATCH_PAUSE_MS = 200;

/** Before watching again: a short pause when the last watch (begun at `startedAt`) ended early. */
export async function beforeRewatch(startedAt: number, signal: AbortSignal): Promise<void> {
  if (Date.now() - startedAt < SHORT_WATCH_MS) await sleep(REWATCH_PAUSE_MS, undefined, { signal });
}

/** Largest answer read into memory (a list of claims is far smaller); larger is an error. */
const MAX_BODY_BYTES = 16 << 20;
/** Largest single watch event (one object). */
const MAX_EVENT_BYTES = 4 << 20;

export interface KubeOptions {
  /** A kubeconfig file; default `$KUBECONFIG`, `~/.kube/config`, else a pod's service account. */
  readonly kubeconfig?: string | undefined;
  /** A context of that kubeconfig; default its current context. */
  readonly context?: string | undefined;
}

/**
 * Loaded kubeconfigs by what they were read from, shared by the process's handles: reading and
 * parsing the file cost each `create` a millisecond or more on a loaded machine, and a fresh
 * KubeConfig forgot the tokens its exec plugin had handed out, so every handle ran the plugin
 * again (often a cloud provider's CLI, slow to start). A file that changed is read again. Past
 * MAX_KUBECONFIGS sources the oldest is forgotten.
 */
const kubeConfigs = new Map<string, KubeConfig>();
const MAX_KUBECONFIGS = 8;

/**
 * What loading with `options` reads: the options, `$KUBECONFIG`, and each file the load may read
 * with its inode, size and modification time (so an edited or replaced file is a new key). The
 * files a kubeconfig names (certificates, token files) client-node reads again for each call.
 */
function kubeConfigSource(options: KubeOptions): string {
  const fromEnv = process.env['KUBECONFIG'];
  const files = (
    options.kubeconfig
      ? [options.kubeconfig]
      : fromEnv
        ? fromEnv.split(delimiter).filter(Boolean)
        : [join(homedir(), '.kube', 'config')]
  ).map((file) => resolve(file));
  const stamps = files.map((file) => {
    try {
      const stat = statSync(file, { throwIfNoEntry: false });
      return stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'none';
    } catch {
      return 'unreadable'; // loading says why
    }
  });
  return JSON.stringify([options.kubeconfig, options.context, fromEnv, files, stamps]);
}

/** The kubeconfig `options` name (its context made current), loaded once per source while it is unchanged. */
export function loadKubeConfig(options: KubeOptions): KubeConfig {
  const source = kubeConfigSource(options);
  let kc = kubeConfigs.get(source);
  if (!kc) {
    kc = readKubeConfig(options);
    kubeConfigs.set(source, kc);
    const oldest = kubeConfigs.keys().next().value;
    if (kubeConfigs.size > MAX_KUBECONFIGS && oldest !== undefined) kubeConfigs.delete(oldest);
  }
  return kc;
}

function readKubeConfig(options: KubeOptions): KubeConfig {
  const kc = new KubeConfig();
  const source = options.kubeconfig ?? 'the default kubeconfig ($KUBECONFIG, ~/.kube/config, in-cluster)';
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new ConfigurationError(
      `kubeconfig: cannot load ${source}: ${messageOf(error)}. Set KUBECONFIG or pass kubeconfig`,
      'configuration',
      { cause: error },
    );
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new ConfigurationError(`context: no context ${JSON.stringify(options.context)} in ${source}`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new ConfigurationError(`kubeconfig: ${source} names no cluster for its current context`);
  }
  return kc;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface CallOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  /** Default API_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

export interface Answer {
  readonly status: number;
  /** The parsed JSON body (undefined when empty or not JSON). */
  readonly body: unknown;
}

export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** The API server's own words from a Status body, else the HTTP status. */
export function statusMessage(answer: Answer): string {
  const body = answer.body;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') {
    return body.message;
  }
  return `HTTP ${answer.status}`;
}

/** A refusal as an error that says what failed, with a hint for the common causes. */
export function refusal(what: string, answer: Answer): KubernetesError {
  const said = statusMessage(answer);
  const message = said === `HTTP ${answer.status}` ? '' : ` ${said}`;
  let hint = '';
  if (answer.status === 404 && said.includes('the server could not find the requested resource')) {
    hint = ' (are the Sandbank CRDs installed? kubectl apply -k manifests/base)';
  } else if (answer.status === 403) {
    hint = " (the kubeconfig's user lacks the RBAC right)";
  }
  return new KubernetesError(`${what}: ${answer.status}${message}${hint}`, answer.status);
}

/**
 * The process's agents for one API server and credential set: `calls` keeps its connections
 * alive for the next call, `watches` gives each watch a connection of its own.
 */
interface SharedAgents {
  readonly calls: HttpAgent;
  readonly watches: HttpAgent;
}

/**
 * Keep-alive agents by API server and credential set, shared by every handle of the process: an
 * agent per handle paid a new connection (a TLS handshake with the API server) for a sandbox's
 * create and again for its delete, a third of a warm round on a loaded machine. Idle sockets do
 * not hold the process open (node unrefs them). Past MAX_SHARED_AGENTS sets (credentials that
 * rotate), the oldest is forgotten, not destroyed: calls under way on it finish.
 */
const sharedAgents = new Map<string, SharedAgents>();
const MAX_SHARED_AGENTS = 8;
/**
 * Connections per API server and credential set for calls, and again for watches, shared by the
 * process's handles. Each waiting `create` holds a watch connection; past this, calls (or
 * watches) queue for a free one (higher: more open connections to one API server).
 */
const MAX_SOCKETS = 64;

function sharedAgent(server: URL, credentials: string): SharedAgents {
  const key = `${server.origin} ${credentials}`;
  let agents = sharedAgents.get(key);
  if (!agents) {
    const Agent = server.protocol === 'https:' ? HttpsAgent : HttpAgent;
    // A watch ends by destroying its connection (the server would stream on until its timeout).
    // Taken from the pool, it would take the idle connection the create left for the delete, which
    // then waited for a new connection (a TLS handshake) at the end of every round; on a
    // connection of its own, the watch's handshake runs while the controller binds the claim.
    agents = {
      calls: new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      watches: new Agent({ keepAlive: false, maxSockets: MAX_SOCKETS }),
    };
    sharedAgents.set(key, agents);
    const oldest = sharedAgents.keys().next().value;
    if (sharedAgents.size > MAX_SHARED_AGENTS && oldest !== undefined) sharedAgents.delete(oldest);
  }
  return agents;
}

export class KubeApi {
  readonly server: URL;

  constructor(readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new ConfigurationError('kubeconfig: no cluster for the current context');
    this.server = new URL(cluster.server);
  }

  /** One request; resolves with any HTTP answer (the caller judges the status). */
  async call(what: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const { response, done } = await this.open(
      what,
      method,
      path,
      options,
      options.timeoutMs ?? API_TIMEOUT_MS,
    );
    try {
      const text = await readBounded(response, MAX_BODY_BYTES, what);
      return { status: response.statusCode ?? 0, body: parseJson(text) };
    } catch (error) {
      throw done(error);
    }
  }

  /**
   * The events of a watch on `path` (a collection with `watch=true` in `query`), until the server
   * ends it (its `timeoutSeconds`) or the stream breaks: then the generator returns and the caller
   * watches again from its last resourceVersion. A refusal (e.g. 410 Gone) is thrown as a
   * KubernetesError with its status; an abort as the signal's reason.
   */
  async *watch(
    what: string,
    path: string,
    serverSeconds: number,
    options: CallOptions,
  ): AsyncGenerator<WatchEvent> {
    const query = { ...options.query, watch: true, allowWatchBookmarks: true, timeoutSeconds: serverSeconds };
    const { response, done } = await this.open(
      what,
      'GET',
      path,
      { ...options, query },
      serverSeconds * 1000 + WATCH_GRACE_MS,
      'watch',
    );
    try {
      if (response.statusCode !== 200) {
        const text = await readBounded(response, MAX_BODY_BYTES, what);
        throw refusal(what, { status: response.statusCode ?? 0, body: parseJson(text) });
      }
      let buffered = '';
      for await (const chunk of response as AsyncIterable<Buffer>) {
        buffered += chunk.toString('utf8');
        if (buffered.length > MAX_EVENT_BYTES) {
          throw new KubernetesError(`${what}: an event over ${MAX_EVENT_BYTES} bytes`);
        }
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const event = watchEvent(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          if (event) yield event;
        }
      }
      // The last event of a stream that ended without its newline.
      const last = watchEvent(buffered);
      if (last) yield last;
    } catch (error) {
      const mapped = done(error);
      // A stream that broke or went silent (not an abort, a refusal or a bad event) just ends the watch.
      if (!(error instanceof KubernetesError) && mapped instanceof KubernetesError) return;
      throw mapped;
    } finally {
      response.destroy();
    }
  }

  private async open(
    what: string,
    method: string,
    path: string,
    options: CallOptions,
    timeoutMs: number,
    kind: 'call' | 'watch' = 'call',
  ): Promise<{ response: IncomingMessage; done: (error: unknown) => Error }> {
    options.signal?.throwIfAborted();
    const url = new URL(path, this.server);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const request: RequestOptions = {
      method,
      headers: {
        accept: 'application/json',
        // A length always: node:http sends a DELETE's body neither chunked nor with one otherwise,
        // and the server would read the body as the next request on the connection.
        ...(payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': payload.length }),
      },
    };
    await this.kc.applyToHTTPSOptions(request);
    this.useSharedAgent(request, kind);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    /** The error to throw for `error`: the caller's abort as its reason, a timeout or a broken connection as a KubernetesError. */
    const done = (error: unknown): Error => {
      if (options.signal?.aborted) return abortReason(options.signal);
      if (error instanceof KubernetesError) return error;
      if (timeout.aborted)
        return new KubernetesError(`${what}: the API server did not answer within ${timeoutMs} ms`);
      return new KubernetesError(`${what}: the API server did not answer (${messageOf(error)})`, undefined, {
        cause: error,
      });
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...request, signal }, resolve);
      req.once('error', (error) => reject(done(error)));
      req.end(payload);
    });
    return { response, done };
  }

  /**
   * client-node makes a new agent for every request, so every call would pay a new TLS handshake
   * with the API server; the process's shared agent for this credential set instead (a proxy's
   * agent stays).
   */
  private useSharedAgent(request: RequestOptions, kind: 'call' | 'watch'): void {
    if (this.kc.getCurrentCluster()?.proxyUrl) return;
    const agents = sharedAgent(this.server, [request.ca, request.cert, request.key].map(keyPart).join('\n'));
    request.agent = kind === 'watch' ? agents.watches : agents.calls;
  }
}

/**
 * A TLS credential (CA, certificate or key: PEM text, bytes, or a list) as part of an agent's key.
 * Bytes as base64: JSON would spell each byte as a number, a tenth of a millisecond per call.
 */
function keyPart(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return `[${value.map(keyPart).join(',')}]`;
  return JSON.stringify(value) ?? '';
}

/** One line of a watch stream as an event; undefined for a blank or unparseable line. */
function watchEvent(line: string): WatchEvent | undefined {
  const event = parseJson(line.trim());
  if (typeof event !== 'object' || event === null || !('type' in event) || typeof event.type !== 'string') {
    return undefined;
  }
  return { type: event.type, object: 'object' in event ? event.object : undefined };
}

/** The body of `response` as text, refused past `limit` bytes (the call's timeout bounds the wait). */
async function readBounded(response: IncomingMessage, limit: number, what: string): Promise<string> {
  const over = (max: number): Error => new KubernetesError(`${what}: an answer over ${max} bytes`);
  return (await readBody(response, { maxBytes: limit, over })).toString('utf8');
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // not JSON (a proxy's page): callers fall back to the HTTP status
  }
}
