/**
 * FileService against real files in a temporary workspace, over a real loopback connection:
 * every rpc's happy path and failure statuses, atomic writes, and every way a path could try to
 * leave the workspace (`..`, absolute paths, symlinks out, /proc/self/root, symlinked parents,
 * dangling links, NUL bytes, over-long names), for every rpc.
 */
import { jest } from '@jest/globals';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { FileType, timestampMs } from '@sandbank/proto';
import type {
  FileInfo,
  ListDirResponse,
  MakeDirResponse,
  ReadFileResponse,
  RemoveResponse,
  StatResponse,
  WriteFileResponse,
} from '@sandbank/proto';
import { collect, failure, unary } from '../helpers/calls.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(20_000);

let agent: TestAgent;
let outside: string;
beforeAll(async () => {
  agent = await startTestAgent();
  outside = await mkdtemp(join(tmpdir(), 'sandbank-outside-'));
  await writeFile(join(outside, 'secret.txt'), 'outside secret');
  const ws = agent.dir;
  await mkdir(join(ws, 'real-dir'));
  await writeFile(join(ws, 'real-dir', 'inner.txt'), 'inner');
  await writeFile(join(ws, 'data.txt'), 'data');
  await symlink(outside, join(ws, 'link-out'));
  await symlink(join(outside, 'secret.txt'), join(ws, 'link-out-file'));
  await symlink('/proc/self/root/etc', join(ws, 'proc-root'));
  await symlink(`/proc/self/root${ws}/data.txt`, join(ws, 'proc-root-inside'));
  await symlink(join(outside, 'not-yet'), join(ws, 'dangling-out'));
  await symlink('link-out', join(ws, 'chain-out'));
  await symlink('real-dir', join(ws, 'dir-link'));
  await symlink('real-dir/inner.txt', join(ws, 'file-link'));
});
afterAll(async () => {
  await agent.close();
  await rm(outside, { recursive: true, force: true });
});

const c = () => agent.client;
const stat_ = (path: string) => unary<StatResponse>((cb) => c().stat({ path }, cb));
const list = (path: string) => unary<ListDirResponse>((cb) => c().listDir({ path }, cb));
const remove = (path: string, recursive = false) =>
  unary<RemoveResponse>((cb) => c().remove({ path, recursive }, cb));
const makeDir = (path: string, parents = false, mode?: number) =>
  unary<MakeDirResponse>((cb) => c().makeDir({ path, parents, ...(mode === undefined ? {} : { mode }) }, cb));
const read = (path: string, extra: { offset?: bigint; limit?: bigint; chunkSize?: number } = {}) =>
  collect<ReadFileResponse>(c().readFile({ path, ...extra }));
type Header = { path: string; mode?: number; createParents?: boolean; exclusive?: boolean };
function write(header: Header, ...chunks: (string | Uint8Array)[]): Promise<WriteFileResponse> {
  return unary<WriteFileResponse>((cb) => {
    const call = c().writeFile(cb);
    call.write({ frame: { case: 'header', value: header } });
    for (const chunk of chunks) call.write({ frame: { case: 'data', value: Buffer.from(chunk) } });
    call.end();
  });
}
const readText = async (path: string): Promise<string> =>
  Buffer.concat((await read(path)).map((r) => Buffer.from(r.data))).toString();

describe('path confinement', () => {
  const escapes: [string, string, RegExp][] = [
    ['parent', '../secret.txt', /leads outside the workspace/],
    ['deep parent', 'real-dir/../../secret.txt', /leads outside/],
    ['absolute outside', '/etc/passwd', /outside the workspace/],
    ['absolute via /proc/self/root', '/proc/self/root/etc/passwd', /outside the workspace/],
    ['symlinked dir out', 'link-out/secret.txt', /resolves outside the workspace/],
    ['symlink to a file out', 'link-out-file', /resolves outside/],
    ['symlink through /proc/self/root', 'proc-root/passwd', /resolves outside/],
    ['chain of links out', 'chain-out/secret.txt', /resolves outside/],
    ['dangling link out', 'dangling-out', /resolves outside/],
  ];
  const invalid: [string, string, RegExp][] = [
    ['NUL byte', 'data.txt\0.png', /NUL/],
    ['over-long name', 'x'.repeat(256), /longer than 255 bytes/],
    ['over-long path', 'a/'.repeat(2100), /longer than 4095 bytes/],
  ];
  const ops: [string, (path: string) => Promise<unknown>][] = [
    ['Stat', stat_],
    ['ReadFile', read],
    ['ListDir', list],
    ['WriteFile', (p) => write({ path: p }, 'pwned')],
    ['MakeDir', (p) => makeDir(p, true)],
    ['Remove', (p) => remove(p, true)],
  ];

  // A bare name is the link itself: Remove deletes the link and never follows it (checked below).
  const linkItself = ([, path]: [string, string, RegExp]): boolean => !path.includes('/');

  for (const [op, call] of ops) {
    describe(op, () => {
      const refused = op === 'Remove' ? escapes.filter((e) => !linkItself(e)) : escapes;
      it.each(refused)('refuses %s with PERMISSION_DENIED', async (_n, path, message) => {
        const error = await failure(call(path));
        expect(error.code).toBe(status.PERMISSION_DENIED);
        expect(error.details).toMatch(message);
      });
      it.each(invalid)('refuses a %s with INVALID_ARGUMENT', async (_n, path, message) => {
        const error = await failure(call(path));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(message);
      });
    });
  }

  it('nothing outside was touched by any of the attempts', async () => {
    expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('outside secret');
  });

  it('follows links that stay inside, relative or naming the workspace', async () => {
    await symlink(join(agent.dir, 'real-dir', 'inner.txt'), join(agent.dir, 'abs-inside'));
    expect(await readText('abs-inside')).toBe('inner');
    expect(await readText('file-link')).toBe('inner');
    expect(await readText('dir-link/inner.txt')).toBe('inner');
    expect(await readText(join(agent.dir, 'real-dir', 'inner.txt'))).toBe('inner');
    expect(await readText('real-dir/../data.txt')).toBe('data');
  });

  it('never lets the kernel interpret a link: one through /proc/self/root is refused, even back inside', async () => {
    const error = await failure(read('proc-root-inside'));
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/resolves outside the workspace/);
  });

  it.each(escapes.filter(linkItself))(
    'Remove of the %s removes the link itself, never its target',
    async (_n, path) => {
      const link = join(agent.dir, path);
      const target = await readlink(link);
      try {
        await remove(path, true);
        await expect(lstat(link)).rejects.toMatchObject({ code: 'ENOENT' });
        expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
        expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('outside secret');
      } finally {
        await rm(link, { force: true });
        await symlink(target, link); // as it was, for the checks that follow
      }
    },
  );

  it('Remove of a link that points out removes the link, never its target', async () => {
    await symlink(outside, join(agent.dir, 'doomed-link'));
    await remove('doomed-link', true);
    await expect(lstat(join(agent.dir, 'doomed-link'))).rejects.toThrow();
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('outside secret');
  });
});

describe('ReadFile', () => {
  it('streams chunks with the info first, honouring offset, limit and chunk size', async () => {
    const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    await writeFile(join(agent.dir, 'bytes.bin'), content);
    const all = await read('bytes.bin', { chunkSize: 100 });
    expect(all).toHaveLength(10);
    expect(all[0]?.info).toMatchObject({
      name: 'bytes.bin',
      path: 'bytes.bin',
      size: 1000n,
      type: FileType.FILE,
    });
    expect(all.slice(1).every((r) => r.info === undefined)).toBe(true);
    expect(Buffer.concat(all.map((r) => Buffer.from(r.data)))).toEqual(content);

    const part = await read('bytes.bin', { offset: 990n, limit: 100n });
    expect(Buffer.concat(part.map((r) => Buffer.from(r.data)))).toEqual(content.subarray(990));
  });

  it('answers an empty file or an offset past the end with one info-only response', async () => {
    await writeFile(join(agent.dir, 'empty'), '');
    for (const responses of [await read('empty'), await read('data.txt', { offset: 100n })]) {
      expect(responses).toHaveLength(1);
      expect(responses[0]?.info).toBeDefined();
      expect(responses[0]?.data.byteLength).toBe(0);
    }
  });

  it('refuses a directory and reports a missing file', async () => {
    expect((await failure(read('real-dir'))).code).toBe(status.FAILED_PRECONDITION);
    expect((await failure(read(''))).code).toBe(status.FAILED_PRECONDITION);
    const missing = await failure(read('missing.txt'));
    expect(missing).toMatchObject({
      code: status.NOT_FOUND,
      details: "'missing.txt': no such file or directory",
    });
  });
});

describe('WriteFile', () => {
  it('writes with the mode, creates parents, and reports the file', async () => {
    const r = await write({ path: 'new/deep/file.txt', mode: 0o600 }, 'hello ', 'world');
    expect(r.info).toMatchObject({ path: 'new/deep/file.txt', size: 11n, mode: 0o600, type: FileType.FILE });
    expect(await readFile(join(agent.dir, 'new/deep/file.txt'), 'utf8')).toBe('hello world');
    expect((await stat(join(agent.dir, 'new/deep/file.txt'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(agent.dir, 'new/deep'))).mode & 0o777).toBe(0o755);
  });

  it('writes an empty file when no data frames come, and replaces existing content', async () => {
    await write({ path: 'replace.txt' }, 'first version');
    await write({ path: 'replace.txt' });
    expect(await readFile(join(agent.dir, 'replace.txt'), 'utf8')).toBe('');
  });

  it('fails without create_parents, on exclusive over an existing file, and over a directory', async () => {
    expect((await failure(write({ path: 'nowhere/x.txt', createParents: false }, 'x'))).code).toBe(
      status.NOT_FOUND,
    );
    expect((await failure(write({ path: 'data.txt', exclusive: true }, 'x'))).code).toBe(
      status.ALREADY_EXISTS,
    );
    expect((await failure(write({ path: 'real-dir' }, 'x'))).code).toBe(status.FAILED_PRECONDITION);
    expect((await failure(write({ path: 'data.txt/x' }, 'x'))).code).toBe(status.FAILED_PRECONDITION);
    expect((await failure(write({ path: '' }, 'x'))).code).toBe(status.INVALID_ARGUMENT);
    expect((await failure(write({ path: 'm.txt', mode: 0o4755 }, 'x'))).code).toBe(status.INVALID_ARGUMENT);
    expect(await readFile(join(agent.dir, 'data.txt'), 'utf8')).toBe('data');
  });

  it('refuses frames out of order and leaves the target untouched', async () => {
    const noHeader = unary<WriteFileResponse>((cb) => {
      const call = c().writeFile(cb);
      call.write({ frame: { case: 'data', value: Buffer.from('x') } });
      call.end();
    });
    expect((await failure(noHeader)).code).toBe(status.INVALID_ARGUMENT);
    const twoHeaders = unary<WriteFileResponse>((cb) => {
      const call = c().writeFile(cb);
      call.write({ frame: { case: 'header', value: { path: 'data.txt' } } });
      call.write({ frame: { case: 'data', value: Buffer.from('half') } });
      call.write({ frame: { case: 'header', value: { path: 'data.txt' } } });
      call.end();
    });
    expect(await failure(twoHeaders)).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'after the header, only data frames',
    });
    expect(await readFile(join(agent.dir, 'data.txt'), 'utf8')).toBe('data');
    expect((await readdir(agent.dir)).filter((n) => n.includes('sandbank-tmp'))).toEqual([]);
  });

  it('is atomic: readers see the old content until the write completes; a cancelled write changes nothing', async () => {
    await write({ path: 'atomic.txt' }, 'old');
    let finish: () => void = () => undefined;
    const pending = unary<WriteFileResponse>((cb) => {
      const call = c().writeFile(cb);
      call.write({ frame: { case: 'header', value: { path: 'atomic.txt' } } });
      call.write({ frame: { case: 'data', value: Buffer.from('new content') } });
      finish = () => call.end();
    });
    // The temporary file exists while the write is open, and the target is unchanged.
    await expectEventuallyTemp(1);
    expect(await readText('atomic.txt')).toBe('old');
    finish();
    await pending;
    expect(await readText('atomic.txt')).toBe('new content');

    let tempSeen = Promise.resolve();
    const cancelled = unary<WriteFileResponse>((cb) => {
      const call = c().writeFile(cb);
      call.write({ frame: { case: 'header', value: { path: 'atomic.txt' } } });
      call.write({ frame: { case: 'data', value: Buffer.from('never') } });
      // Cancelled either way, so the call settles; a missing temporary file fails below.
      tempSeen = expectEventuallyTemp(1).finally(() => call.cancel());
    });
    expect((await failure(cancelled)).code).toBe(status.CANCELLED);
    await tempSeen;
    await expectEventuallyTemp(0);
    expect(await readText('atomic.txt')).toBe('new content');
  });

  async function expectEventuallyTemp(count: number): Promise<void> {
    for (let i = 0; i < 250; i++) {
      if ((await readdir(agent.dir)).filter((n) => n.includes('sandbank-tmp')).length === count) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`expected ${count} temporary files`);
  }
});

describe('ListDir and Stat', () => {
  it('lists entries sorted by name without following links', async () => {
    await mkdir(join(agent.dir, 'listing'));
    await writeFile(join(agent.dir, 'listing', 'b.txt'), 'bb');
    await mkdir(join(agent.dir, 'listing', 'a-dir'));
    await symlink('b.txt', join(agent.dir, 'listing', 'c-link'));
    const { entries } = await list('listing');
    expect(entries.map((e: FileInfo) => [e.name, e.path, e.type])).toEqual([
      ['a-dir', 'listing/a-dir', FileType.DIRECTORY],
      ['b.txt', 'listing/b.txt', FileType.FILE],
      ['c-link', 'listing/c-link', FileType.SYMLINK],
    ]);
    const root = await list('');
    expect(root.entries.map((e) => e.name)).toContain('listing');
    expect((await failure(list('data.txt'))).code).toBe(status.FAILED_PRECONDITION);
    expect((await failure(list('no-such-dir'))).code).toBe(status.NOT_FOUND);
  });

  it('describes a path, following links, and the root as "."', async () => {
    const before = Date.now();
    await writeFile(join(agent.dir, 'stat.txt'), '12345');
    const { info } = await stat_('stat.txt');
    expect(info?.modTime && timestampMs(info.modTime)).toBeGreaterThanOrEqual(before - 1000);
    expect(info).toMatchObject({
      name: 'stat.txt',
      path: 'stat.txt',
      size: 5n,
      type: FileType.FILE,
      mode: 0o644,
    });
    expect((await stat_('file-link')).info).toMatchObject({
      name: 'file-link',
      type: FileType.FILE,
      size: 5n,
    });
    expect((await stat_('')).info).toMatchObject({ name: '.', path: '.', type: FileType.DIRECTORY });
    expect((await stat_(`${agent.dir}/real-dir/`)).info).toMatchObject({
      path: 'real-dir',
      type: FileType.DIRECTORY,
    });
    expect((await failure(stat_('nope'))).code).toBe(status.NOT_FOUND);
  });
});

describe('Remove and MakeDir', () => {
  it('removes files and directories, recursively only when asked, never the root', async () => {
    await mkdir(join(agent.dir, 'rm/sub'), { recursive: true });
    await writeFile(join(agent.dir, 'rm/sub/f'), 'x');
    await writeFile(join(agent.dir, 'rm-file'), 'x');
    await remove('rm-file');
    expect((await failure(remove('rm'))).code).toBe(status.FAILED_PRECONDITION);
    await remove('rm', true);
    await expect(lstat(join(agent.dir, 'rm'))).rejects.toThrow();
    expect((await failure(remove('rm'))).code).toBe(status.NOT_FOUND);
    expect((await failure(remove('.', true))).code).toBe(status.PERMISSION_DENIED);
    expect((await failure(remove(agent.dir, true))).code).toBe(status.PERMISSION_DENIED);
    expect((await failure(remove(''))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('makes directories with exact modes, with and without parents', async () => {
    const made = await makeDir('md', false, 0o700);
    expect(made.info).toMatchObject({ path: 'md', type: FileType.DIRECTORY, mode: 0o700 });
    expect((await failure(makeDir('md'))).code).toBe(status.ALREADY_EXISTS);
    expect((await makeDir('md', true)).info?.path).toBe('md');
    expect((await failure(makeDir('data.txt', true))).code).toBe(status.ALREADY_EXISTS);
    const missing = await failure(makeDir('x/y/z'));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toMatch(/set parents/);
    await makeDir('x/y/z', true, 0o750);
    for (const dir of ['x', 'x/y', 'x/y/z'])
      expect((await stat(join(agent.dir, dir))).mode & 0o777).toBe(0o750);
    expect((await failure(makeDir('bad-mode', false, 0o1777))).code).toBe(status.INVALID_ARGUMENT);
  });
});
