// DESIGN §1 with the TypeScript client (@sandbank/client, clients/ts) on the real cluster:
//  - dev mode: the client's own port-forward (client-node's PortForward through the real
//    kubelet, which the kwok stack cannot do) to the router, the token and CA from its Secrets;
//  - direct mode: the router Service's ClusterIP over TLS with the CA make up made;
//  - the `sandbank` CLI as processes, `run` and `exec -it` on a pseudo-terminal.
// Each claims from the python-runtime pool and leaves no claim behind.
import { createHash, randomBytes } from 'node:crypto';
import { Sandbox } from '@sandbank/client';
import { bundleCli, runCliProcess, runOnPty, type Obj } from '@sandbank/testing';
import { POOL, POOL_NS, cluster, getJson, router, routerCaFile, since, waitPoolReady } from './helpers.js';
import type { Cluster, Router } from './helpers.js';

let c: Cluster;
let r: Router;
let bundle: string;

beforeAll(async () => {
  c = cluster();
  r = await router(c);
  bundle = bundleCli();
  await waitPoolReady(c);
}, 300_000);

const claimNames = async (): Promise<string[]> =>
  (await getJson<{ items: Obj[] }>(c, ['sandboxclaims', '-n', POOL_NS])).items
    .filter((o) => o.metadata.deletionTimestamp === undefined)
    .map((o) => o.metadata.name);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Reads a pty's output until `marker` appears; the text read so far. */
async function readUntil(
  output: AsyncIterator<Uint8Array>,
  seen: { text: string },
  marker: string,
): Promise<void> {
  while (!seen.text.includes(marker)) {
    const next = await output.next();
    if (next.done) throw new Error(`the terminal closed before ${JSON.stringify(marker)}:\n${seen.text}`);
    seen.text += Buffer.from(next.value).toString('utf8');
  }
}

test('dev mode: a claim through the client-node port-forward, gVisor, a 4 MiB file both ways, a terminal', async () => {
  const before = await claimNames();
  const content = randomBytes(4 << 20);
  const t0 = performance.now();
  let claimName = '';
  {
    await using sb = await Sandbox.create({ kubeconfig: c.kubeconfigPath, namespace: POOL_NS, pool: POOL });
    claimName = sb.claimName;
    expect(sb.mode).toBe('dev');
    expect(sb.connection.origin.protocol).toBe('https:');
    expect(sb.connection.origin.hostname).toBe('127.0.0.1');
    process.stderr.write(
      `[e2e] ts client dev mode: claim ${claimName} Ready, route open in ${since(t0)} ms\n`,
    );

    const version = await sb.commands.run('cat /proc/version');
    expect(version.exitCode).toBe(0);
    // gVisor's kernel announces itself as Linux 4.4.0
    expect(version.stdout).toMatch(/gvisor|Linux version 4\.4\.0/);

    // streamed both ways: a web stream in, a web stream out, compared by hash
    await sb.files.write('big.bin', new Blob([content]).stream());
    const read = await sb.files.read('big.bin');
    expect(read.size).toBe(content.length);
    expect(sha256(await collect(read.stream))).toBe(sha256(content));
    const inSandbox = await sb.commands.run(['sha256sum', 'big.bin']);
    expect(inSandbox.stdout.split(' ')[0]).toBe(sha256(content));

    // a terminal: its size, a resize, ^C to the foreground job (as 11-data-plane types it), the exit
    const shell = await sb.commands.spawn(['bash', '--norc', '--noprofile', '-i'], {
      pty: { rows: 24, cols: 80 },
    });
    const output = shell.stdout[Symbol.asyncIterator]();
    const seen = { text: '' };
    await shell.write('stty size\n');
    await readUntil(output, seen, '24 80');
    await shell.resize({ rows: 40, cols: 120 });
    await shell.write('stty size\n');
    await readUntil(output, seen, '40 120');
    await shell.write('sh -c "echo SLEE""PING; exec sleep 100"\n');
    await readUntil(output, seen, 'SLEEPING\r\n');
    await shell.write('\u0003');
    await shell.write('echo "after=$?"\n');
    await readUntil(output, seen, 'after=130\r\n');
    await shell.write('exit 3\n');
    const exit = await shell.wait();
    expect(exit.exitCode).toBe(3);
  }
  process.stderr.write(`[e2e] ts client dev mode: whole block in ${since(t0)} ms\n`);
  expect(await claimNames()).toEqual(before);
  expect(before).not.toContain(claimName);
}, 240_000);

test('direct mode: the router ClusterIP over TLS, a template-only (v1alpha1) claim, a background process read back', async () => {
  const before = await claimNames();
  const t0 = performance.now();
  {
    await using sb = await Sandbox.create({
      kubeconfig: c.kubeconfigPath,
      namespace: POOL_NS,
      template: POOL,
      routerUrl: r.url,
      token: r.token,
      caFile: routerCaFile(c),
    });
    expect(sb.mode).toBe('direct');
    const started = await sb.commands.start(['sh', '-c', 'for i in 1 2 3; do echo line-$i; done; exit 4']);
    const done = await sb.commands.wait(started.id);
    expect(done.state).toBe('exited');
    let text = '';
    for await (const chunk of await sb.commands.attach(started.id, { fromOffset: 0 })) {
      text += Buffer.from(chunk.data).toString('utf8');
    }
    expect(text).toBe('line-1\nline-2\nline-3\n');
    const listed = await sb.commands.list();
    expect(listed.map((p) => p.id)).toContain(started.id);
  }
  process.stderr.write(`[e2e] ts client direct mode: whole block in ${since(t0)} ms\n`);
  expect(await claimNames()).toEqual(before);
}, 240_000);

test('the sandbank CLI: run in dev mode prints the output and deletes its claim; exec -it on a terminal', async () => {
  const before = await claimNames();
  const env = { KUBECONFIG: c.kubeconfigPath };
  const ran = await runCliProcess(
    bundle,
    ['run', '-n', POOL_NS, '--pool', POOL, '--', 'python3', '-c', 'import sys; print(6 * 7); sys.exit(5)'],
    { env },
  );
  expect(ran.stderr).toBe('');
  expect(ran.stdout.toString('utf8')).toBe('42\n');
  expect(ran.code).toBe(5);
  expect(await claimNames()).toEqual(before);

  const created = await runCliProcess(bundle, ['create', '-n', POOL_NS, '--pool', POOL, '--json'], { env });
  expect(created.code).toBe(0);
  const claim = (JSON.parse(created.stdout.toString('utf8')) as { claim: string }).claim;
  try {
    const pty = await runOnPty(
      [process.execPath, bundle, 'exec', '-it', '-n', POOL_NS, claim, '--', 'sh'],
      [
        { send: 'stty size\n', until: '30 100' },
        { resize: [33, 90] },
        { send: 'stty size\n', until: '33 90' },
        { send: 'exit 7\n' },
        { expect: 'cli-exit=7' },
      ],
      env,
    );
    expect(pty.screen).toContain('cli-exit=7');
  } finally {
    const deleted = await runCliProcess(bundle, ['delete', '-n', POOL_NS, claim], { env });
    expect(deleted.code).toBe(0);
  }
  expect(await claimNames()).toEqual(before);
}, 240_000);
