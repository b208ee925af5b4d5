/**
 * FileService: the gRPC face of `fs/`. Reads stream in chunks only as fast as the caller takes
 * them; writes stream to a temporary file only as fast as the disk takes them; so a file of any
 * size passes through the agent in bounded memory.
 */
import { FileType } from '@sandbank/proto';
import type { FileInfo, FileServiceHandlers, WriteFileHeader, WriteFileRequest } from '@sandbank/proto';
import type { AgentDeps } from '../deps.js';
import { AgentError } from '../errors.js';
import { listDir, makeDir, openForRead, removePath, statPath } from '../fs/files.js';
import type { FileKind, FileMeta } from '../fs/files.js';
import { writeFileAtomic } from '../fs/write.js';
import { drained, toStatus } from './status.js';

/** ReadFile chunk size when the caller gives none. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** Largest ReadFile chunk: well under gRPC's default 4 MiB message limit. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

const FILE_TYPES: Readonly<Record<FileKind, FileType>> = {
  file: FileType.FILE,
  directory: FileType.DIRECTORY,
  symlink: FileType.SYMLINK,
  other: FileType.OTHER,
};

export function fileInfoOf(meta: FileMeta): Omit<FileInfo, '$typeName' | '$unknown' | 'modTime'> & {
  modTime: { seconds: bigint; nanos: number };
} {
  let seconds = meta.mtimeNs / 1_000_000_000n;
  let nanos = Number(meta.mtimeNs % 1_000_000_000n);
  if (nanos < 0) {
    nanos += 1_000_000_000;
    seconds -= 1n;
  }
  return {
    name: meta.name,
    path: meta.path,
    size: meta.size,
    type: FILE_TYPES[meta.kind],
    mode: meta.mode,
    modTime: { seconds, nanos },
  };
}

export function fileHandlers(deps: AgentDeps): FileServiceHandlers {
  const { workspace, logger } = deps;
  return {
    readFile(call) {
      void (async () => {
        const { path, offset, limit, chunkSize } = call.request;
        const opened = await openForRead(workspace, path, {
          offset,
          limit,
          chunkSize: chunkSize === 0 ? DEFAULT_CHUNK_BYTES : Math.min(chunkSize, MAX_CHUNK_BYTES),
        });
        const info = fileInfoOf(opened.meta);
        const stream = opened.stream;
        let sentInfo = false;
        if (stream) {
          call.once('cancelled', () => stream.destroy());
          for await (const data of stream as AsyncIterable<Buffer>) {
            if (call.cancelled) break;
            const ok = call.write(sentInfo ? { data } : { info, data });
            sentInfo = true;
            if (!ok) await drained(call);
          }
        }
        if (call.cancelled) return;
        if (!sentInfo) call.write({ info });
        call.end();
      })().catch((error: unknown) => {
        if (!call.cancelled) call.emit('error', toStatus(error, logger));
      });
    },

    writeFile(call, callback) {
      const abort = new AbortController();
      call.once('cancelled', () => abort.abort());
      const frames = (call as AsyncIterable<WriteFileRequest>)[Symbol.asyncIterator]();
      void (async () => {
        const first = await frames.next();
        if (first.done || first.value.frame.case !== 'header') {
          throw new AgentError('invalid_argument', 'the first frame must be header');
        }
        const header: WriteFileHeader = first.value.frame.value;
        if (header.path === '') throw new AgentError('invalid_argument', 'header.path is required');
        if (header.mode !== undefined && header.mode > 0o777) {
          throw new AgentError('invalid_argument', `header.mode 0${header.mode.toString(8)} is above 0777`);
        }
        async function* content(): AsyncGenerator<Uint8Array> {
          for (;;) {
            const next = await frames.next();
            if (next.done) {
              // A cancelled call also ends the request stream (HTTP/2 ends the stream it resets),
              // and grpc-js reports the cancel a few ticks later: let it, so a cancelled upload's
              // partial content is never committed as if the client had finished.
              await new Promise((resolve) => setImmediate(resolve));
              if (call.cancelled) throw new AgentError('cancelled', 'the call was cancelled');
              return;
            }
            const frame = next.value.frame;
            if (frame.case !== 'data')
              throw new AgentError('invalid_argument', 'after the header, only data frames');
            yield frame.value;
          }
        }
        const meta = await writeFileAtomic(workspace, header.path, content(), {
          mode: header.mode,
          createParents: header.createParents,
          exclusive: header.exclusive,
          signal: abort.signal,
        });
        callback(null, { info: fileInfoOf(meta) });
      })().catch((error: unknown) => callback(toStatus(error, logger)));
    },

    listDir(call, callback) {
      listDir(workspace, call.request.path, { followLinks: false })
        .then((entries) => callback(null, { entries: entries.map(fileInfoOf) }))
        .catch((error: unknown) => callback(toStatus(error, logger)));
    },

    stat(call, callback) {
      statPath(workspace, call.request.path)
        .then((meta) => callback(null, { info: fileInfoOf(meta) }))
        .catch((error: unknown) => callback(toStatus(error, logger)));
    },

    remove(call, callback) {
      removePath(workspace, call.request.path, call.request.recursive)
        .then(() => callback(null, {}))
        .catch((error: unknown) => callback(toStatus(error, logger)));
    },

    makeDir(call, callback) {
      const { path, parents, mode } = call.request;
      if (mode !== undefined && mode > 0o777) {
        callback(
          toStatus(new AgentError('invalid_argument', `mode 0${mode.toString(8)} is above 0777`), logger),
        );
        return;
      }
      makeDir(workspace, path, { parents, mode })
        .then((meta) => callback(null, { info: fileInfoOf(meta) }))
        .catch((error: unknown) => callback(toStatus(error, logger)));
    },
  };
}
