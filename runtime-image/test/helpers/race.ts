/**
 * The path race of #16 (finding 7), shared by the host test and the gVisor test: code in the
 * sandbox swaps `d` (a directory) with `d.swap` (a link to a directory outside) and `f` (a file)
 * with `f.swap` (a link to a file outside), while every file entry point of the agent runs
 * through those names, over gRPC and the legacy REST API. Inside and outside hold the same
 * shapes, so anything that slips through the link finds something to read, list, replace or
 * remove; whatever changes outside is charged to the operation whose names it bears.
 *
 * The shapes and the snapshot of what is outside are python3 scripts, so the gVisor test can
 * run them inside the sandbox (where the outside directory lives) and the host test on the host.
 */
import { request } from 'node:http';
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type {
  AgentClient,
  ListDirResponse,
  MakeDirResponse,
  ReadFileResponse,
  RemoveResponse,
  StatResponse,
  WriteFileResponse,
} from '@sandbank/proto';
import { collect, unary } from './calls.js';

export const INSIDE = 'inside';
export const SECRET = 'OUTSIDE-SECRET';
export const MARKER = 'OUTSIDE-MARKER';

/**
 * python3 script: `shapes <dir> <content of f.txt> <iterations> <marker: 0|1>` makes, under
 * dir, f.txt, sub/, w/, mk/, up/ and v/victim-<i> (a file for even i, a directory with a file for
 * odd i); with marker, also OUTSIDE-MARKER and sub/OUTSIDE-MARKER. What the operations create
 * goes into subdirectories, so listing `d` stays cheap however many iterations run.
 */
export const SHAPES_SCRIPT = `
import os, sys
root, text, n, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1'
def put(path, data):
    with open(path, 'w') as f:
        f.write(data)
for sub in ('sub', 'v', 'w', 'mk', 'up'):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
put(os.path.join(root, 'f.txt'), text)
for i in range(n):
    v = os.path.join(root, 'v', f'victim-{i}')
    if i % 2 == 0:
        put(v, 'v')
    else:
        os.mkdir(v)
        put(os.path.join(v, 'x'), 'v')
if marker:
    put(os.path.join(root, '${MARKER}'), text)
    put(os.path.join(root, 'sub', '${MARKER}'), text)
`;

/**
 * python3 script: `snapshot <dir>` prints, as JSON, every name under dir (directories end in
 * '/') with the content of each file; links are not followed.
 */
export const SNAPSHOT_SCRIPT = `
import json, os, sys
root, out = sys.argv[1], {}
for d, dirs, files in os.walk(root):
    rel = os.path.relpath(d, root)
    for name in dirs:
        out[os.path.normpath(os.path.join(rel, name)) + '/'] = ''
    for name in files:
        p = os.path.join(d, name)
        with open(p, errors='replace') as f:
            out[os.path.normpath(os.path.join(rel, name))] = f.read()
print(json.dumps(out))
`;

export type Outcome = 'inside' | 'escaped' | 'refused' | 'other';

/** Where the agent under test answers. */
export interface RaceTarget {
  readonly client: AgentClient;
  readonly restUrl: string;
}

/** Outcomes by entry point, and what the failures other than refusals said. */
export class RaceTally {
  readonly counts = new Map<string, Record<Outcome, number>>();
  readonly others = new Map<string, number>();

  record(name: string, outcome: Outcome): void {
    const row = this.counts.get(name) ?? { inside: 0, escaped: 0, refused: 0, other: 0 };
    row[outcome] += 1;
    this.counts.set(name, row);
  }

  /** Escapes by entry point: those seen in answers plus the `changed` names outside. */
  escapes(changed: readonly string[]): Record<string, number> {
    const escapes: Record<string, number> = {};
    for (const [name, row] of this.counts) escapes[name] = row.escaped;
    for (const name of changed) escapes[culprit(name)] = (escapes[culprit(name)] ?? 0) + 1;
    return escapes;
  }

  /** Every entry point with 0 escapes: what `escapes` must equal. */
  none(): Record<string, number> {
    return Object.fromEntries([...this.counts.keys()].map((name) => [name, 0]));
  }

  /** Whether the agent saw both shapes of the swapped names, for the entry point `name`. */
  sawBoth(name: string): boolean {
    const row = this.counts.get(name);
    return row !== undefined && row.inside > 0 && row.refused > 0;
  }

  report(): string {
    const rows = [...this.counts].map(([name, r]) => `${name}: ${JSON.stringify(r)}`);
    const failures = [...this.others].map(([what, n]) => `  ${n} × ${what}`);
    return [...rows, 'other failures:', ...failures].join('\n');
  }
}

/** Names that changed between two snapshots (see SNAPSHOT_SCRIPT). */
export function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
}

/** Which operation a change outside (a name relative to the outside directory) is the escape of. */
function culprit(name: string): string {
  if (name === 'f.txt' || name.startsWith('.f.txt.')) return 'gRPC WriteFile (replace)';
  if (name.startsWith('w/')) return 'gRPC WriteFile (mkdir -p, rename)';
  if (name.startsWith('mk/')) return 'gRPC MakeDir';
  if (name.startsWith('v/')) return 'gRPC Remove';
  if (name.startsWith('up/')) return 'REST upload';
  return `unexpected: ${name}`;
}

/** Runs `iterations` rounds of every entry point (all at once within a round) against `target`. */
export async function runRace(target: RaceTarget, iterations: number): Promise<RaceTally> {
  const tally = new RaceTally();
  for (let i = 0; i < iterations; i++) {
    for (const [name, outcome] of Object.entries(round(target, tally, i))) {
      tally.record(name, await outcome);
    }
  }
  return tally;
}

interface Http {
  status: number;
  text: string;
}

function http(base: string, method: string, path: string, body?: Buffer, headers?: Record<string, string>) {
  const url = new URL(base);
  return new Promise<Http>((resolve, reject) => {
    // Host, port and the raw path apart: a URL string would have the path normalized.
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function multipart(filename: string, content: string): { body: Buffer; headers: Record<string, string> } {
  const b = '----sandbank-race';
  return {
    body: Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n${content}\r\n--${b}--\r\n`,
    ),
    headers: { 'content-type': `multipart/form-data; boundary=${b}` },
  };
}

/** Every file entry point once, through the swapping names, at the same time. */
function round(target: RaceTarget, tally: RaceTally, i: number): Record<string, Promise<Outcome>> {
  const c = target.client;
  const other = (what: string): Outcome => {
    const kind = what.replace(/\d+/g, 'N'); // one line for all the victims, uploads, ...
    tally.others.set(kind, (tally.others.get(kind) ?? 0) + 1);
    return 'other';
  };
  /** gRPC outcome: `judge` tells an escape from a success inside. */
  const grpc = async <T>(call: Promise<T>, judge: (r: T) => boolean): Promise<Outcome> => {
    try {
      return judge(await call) ? 'escaped' : 'inside';
    } catch (error) {
      const { code, details } = error as ServiceError;
      return code === status.PERMISSION_DENIED ? 'refused' : other(`${status[code]}: ${details}`);
    }
  };
  const rest = async (call: Promise<Http>, judge: (r: Http) => boolean): Promise<Outcome> => {
    const r = await call;
    if (r.status === 403) return 'refused';
    if (r.status !== 200) return other(`${r.status} ${r.text}`);
    return judge(r) ? 'escaped' : 'inside';
  };
  const get = (path: string): Promise<Http> => http(target.restUrl, 'GET', path);
  const readText = async (path: string): Promise<string> =>
    Buffer.concat(
      (await collect<ReadFileResponse>(c.readFile({ path }))).map((r) => Buffer.from(r.data)),
    ).toString();
  const write = (path: string, content: string): Promise<WriteFileResponse> =>
    unary<WriteFileResponse>((cb) => {
      const call = c.writeFile(cb);
      call.write({ frame: { case: 'header', value: { path } } });
      call.write({ frame: { case: 'data', value: Buffer.from(content) } });
      call.end();
    });
  const upload = multipart(`d/up/up-${i}.txt`, 'u');
  const secretSize = (r: StatResponse): boolean => r.info?.size === BigInt(SECRET.length);
  const marked = (r: ListDirResponse): boolean => r.entries.some((e) => e.name === MARKER);
  return {
    'gRPC ReadFile': grpc(readText('d/f.txt'), (t) => t === SECRET),
    'gRPC ReadFile (file swapped)': grpc(readText('f'), (t) => t === SECRET),
    'gRPC Stat': grpc(
      unary<StatResponse>((cb) => c.stat({ path: 'd/f.txt' }, cb)),
      secretSize,
    ),
    'gRPC Stat (file swapped)': grpc(
      unary<StatResponse>((cb) => c.stat({ path: 'f' }, cb)),
      secretSize,
    ),
    'gRPC ListDir': grpc(
      unary<ListDirResponse>((cb) => c.listDir({ path: 'd' }, cb)),
      marked,
    ),
    'gRPC ListDir (below)': grpc(
      unary<ListDirResponse>((cb) => c.listDir({ path: 'd/sub' }, cb)),
      marked,
    ),
    'gRPC WriteFile (mkdir -p, rename)': grpc(write(`d/w/w-${i}/x.txt`, 'w'), () => false),
    'gRPC WriteFile (replace)': grpc(write('d/f.txt', INSIDE), () => false),
    'gRPC MakeDir': grpc(
      unary<MakeDirResponse>((cb) => c.makeDir({ path: `d/mk/mk-${i}/sub`, parents: true }, cb)),
      () => false,
    ),
    'gRPC Remove': grpc(
      unary<RemoveResponse>((cb) => c.remove({ path: `d/v/victim-${i}`, recursive: i % 2 === 1 }, cb)),
      () => false,
    ),
    'REST download': rest(get('/download/d/f.txt'), (r) => r.text === SECRET),
    'REST download (file swapped)': rest(get('/download/f'), (r) => r.text === SECRET),
    'REST list': rest(get('/list/d'), (r) => r.text.includes(MARKER)),
    'REST exists': rest(
      get(`/exists/d/${MARKER}`),
      (r) => (JSON.parse(r.text) as { exists: boolean }).exists,
    ),
    'REST upload': rest(http(target.restUrl, 'POST', '/upload', upload.body, upload.headers), () => false),
  };
}
