/**
 * `ls`, `stat`, `rm` and `cp` on a sandbox's files. `cp` streams both ways (a file is never held
 * whole); a download goes to a temporary file renamed into place once complete, so a failed copy
 * leaves no half file behind.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { posix } from 'node:path';
import { Readable, pipeline as pipe } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFound } from '../generated/router-errors.js';
import type { Sandbox } from '../sandbox.js';
import { withClaim, type Context, type Outcome } from './context.js';
import { listing, statText } from './format.js';
import { LocalFileError, UsageError } from './failures.js';
import { write } from './io.js';
import type { Connection, Location } from './parse.js';
import { Progress, wantsProgress } from './progress.js';

interface FileCommand {
  readonly connection: Connection;
  readonly claim: string;
  readonly path: string;
}

export function listCommand(command: FileCommand, context: Context): Promise<Outcome> {
  return withClaim(command.connection, command.claim, context, async (sandbox) => {
    const entries = await sandbox.files.list(command.path, { signal: context.interrupts.signal });
    return { exit: 0, json: { claim: command.claim, path: command.path, entries }, text: listing(entries) };
  });
}

export function statCommand(command: FileCommand, context: Context): Promise<Outcome> {
  return withClaim(command.connection, command.claim, context, async (sandbox) => {
    const info = await sandbox.files.stat(command.path, { signal: context.interrupts.signal });
    return { exit: 0, json: { claim: command.claim, ...info }, text: statText(info) };
  });
}

export function removeCommand(
  command: FileCommand & { recursive: boolean },
  context: Context,
): Promise<Outcome> {
  return withClaim(command.connection, command.claim, context, async (sandbox) => {
    await sandbox.files.remove(command.path, {
      recursive: command.recursive,
      signal: context.interrupts.signal,
    });
    return { exit: 0, json: { claim: command.claim, path: command.path, removed: true }, text: '' };
  });
}

interface CopyCommand {
  readonly connection: Connection;
  readonly from: Location;
  readonly to: Location;
  readonly quiet: boolean;
}

type SandboxLocation = Extract<Location, { kind: 'sandbox' }>;
type LocalLocation = Exclude<Location, { kind: 'sandbox' }>;

const shown = (where: Location): string =>
  where.kind === 'sandbox' ? `${where.claim}:${where.path}` : where.kind === 'local' ? where.path : '-';

export async function copyCommand(command: CopyCommand, context: Context): Promise<Outcome> {
  const { from, to } = command;
  let claim: string;
  let copied: { destination: string; bytes: number };
  if (from.kind === 'sandbox' && to.kind !== 'sandbox') {
    claim = from.claim;
    copied = await download(from, to, command, context);
  } else if (to.kind === 'sandbox' && from.kind !== 'sandbox') {
    claim = to.claim;
    copied = await upload(from, to, command, context);
  } else throw new UsageError('cp: exactly one of SRC and DST must be CLAIM:PATH');
  return {
    exit: 0,
    json: {
      claim,
      direction: from.kind === 'sandbox' ? 'download' : 'upload',
      source: shown(from),
      ...copied,
    },
    text: '',
  };
}

async function isRemoteDirectory(sandbox: Sandbox, path: string, signal: AbortSignal): Promise<boolean> {
  try {
    return (await sandbox.files.stat(path, { signal })).type === 'directory';
  } catch (error) {
    if (error instanceof NotFound) return false;
    throw error;
  }
}

async function isLocalDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** `source` through a progress bar on stderr when one is wanted. */
function withProgress(
  source: Readable,
  total: number | undefined,
  quiet: boolean,
  context: Context,
): Readable {
  if (!wantsProgress(context.io.stderr, total, quiet)) return source;
  // An error of the source destroys the bar's stream with it, so the reader sees it.
  return pipe(source, new Progress(context.io.stderr, total), () => undefined);
}

async function upload(
  from: LocalLocation,
  to: SandboxLocation,
  command: CopyCommand,
  context: Context,
): Promise<{ destination: string; bytes: number }> {
  const { signal } = context.interrupts;
  let size: number | undefined;
  if (from.kind === 'local') {
    const info = await stat(from.path);
    if (!info.isFile()) throw new LocalFileError(`${from.path}: not a regular file (cp copies one file)`);
    size = info.size;
  }
  return withClaim(command.connection, to.claim, context, async (sandbox) => {
    let path = to.path;
    if (from.kind === 'local' && (path.endsWith('/') || (await isRemoteDirectory(sandbox, path, signal))))
      path = posix.join(path, basename(from.path));
    const source = from.kind === 'local' ? createReadStream(from.path) : Readable.from(context.io.stdin);
    const written = await sandbox.files.write(path, withProgress(source, size, command.quiet, context), {
      signal,
    });
    return { destination: `${to.claim}:${written.path}`, bytes: written.size };
  });
}

async function download(
  from: SandboxLocation,
  to: LocalLocation,
  command: CopyCommand,
  context: Context,
): Promise<{ destination: string; bytes: number }> {
  const { signal } = context.interrupts;
  return withClaim(command.connection, from.claim, context, async (sandbox) => {
    const read = await sandbox.files.read(from.path, { signal });
    const body = Readable.fromWeb(read.stream);
    const source = withProgress(body, read.size, command.quiet, context);
    if (to.kind === 'stdio') {
      let bytes = 0;
      for await (const chunk of source as AsyncIterable<Buffer>) {
        bytes += chunk.byteLength;
        await write(context.io.stdout, chunk);
      }
      return { destination: '-', bytes };
    }
    const target = (await isLocalDirectory(to.path)) ? join(to.path, posix.basename(from.path)) : to.path;
    const partial = `${target}.${randomBytes(4).toString('hex')}.sandbank-partial`;
    try {
      await pipeline(source, createWriteStream(partial, { mode: read.mode ?? 0o644 }), { signal });
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return { destination: target, bytes: (await stat(target)).size };
  });
}
