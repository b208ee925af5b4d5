/**
 * The checked-in gen/ts is exactly what `buf generate` writes from today's .proto files, and the
 * check notices a .proto edit that was not regenerated. Runs the real buf and protoc-gen-es from
 * node_modules; no network.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoDir = fileURLToPath(new URL('../..', import.meta.url));
const binDir = join(protoDir, '..', 'node_modules', '.bin');
const checkedIn = join(protoDir, 'gen', 'ts');
const scratch = mkdtempSync(join(tmpdir(), 'sandbank-proto-'));

/** Runs buf generate in `dir` (a buf module with buf.gen.yaml), writing under `outputBase`. */
function bufGenerate(dir: string, outputBase: string): void {
  execFileSync(join(binDir, 'buf'), ['generate', '--output', outputBase], {
    cwd: dir,
    // buf finds the `local: protoc-gen-es` plugin on PATH, as under `npm run generate`.
    env: { ...process.env, PATH: `${binDir}${delimiter}${process.env['PATH'] ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Relative paths of all files under `root`, sorted. */
function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('generated code in proto/gen/ts', () => {
  const fresh = join(scratch, 'fresh');
  bufGenerate(protoDir, fresh);
  const freshFiles = listFiles(join(fresh, 'gen', 'ts'));

  it('has the same files buf generates (run `make generate` if this fails)', () => {
    expect(listFiles(checkedIn)).toEqual(freshFiles);
  });

  it.each(freshFiles)('%s is fresh (run `make generate` if this fails)', (file) => {
    const expected = readFileSync(join(fresh, 'gen', 'ts', file), 'utf8');
    expect(readFileSync(join(checkedIn, file), 'utf8')).toBe(expected);
  });

  it('would be stale after a .proto edit that was not regenerated', () => {
    const edited = join(scratch, 'edited');
    for (const source of ['buf.yaml', 'buf.gen.yaml', 'sandbank', 'grpc']) {
      cpSync(join(protoDir, source), join(edited, source), { recursive: true });
    }
    // A comment-only edit, the subtlest kind: it reaches the generated doc comments.
    const execProto = join(edited, 'sandbank', 'agent', 'v1', 'exec.proto');
    const original = readFileSync(execProto, 'utf8');
    const comment = '// Starts the process.';
    expect(original).toContain(comment);
    writeFileSync(execProto, original.replace(comment, '// Starts the process (edited).'));
    bufGenerate(edited, edited);

    const file = join('sandbank', 'agent', 'v1', 'exec_pb.ts');
    const regenerated = readFileSync(join(edited, 'gen', 'ts', file), 'utf8');
    expect(regenerated).not.toBe(readFileSync(join(checkedIn, file), 'utf8'));
    expect(regenerated).toContain('Starts the process (edited).');
  });
});
