/**
 * Legacy file routes: `POST /upload`, `GET /download/{path}`, `GET /list/{path}`,
 * `GET /exists/{path}`, over the same `fs/` code as FileService. Paths follow the python
 * runtime: leading slashes are dropped, anything that resolves outside the workspace (or
 * cannot be a path at all, such as one with a NUL byte, which Python's realpath refuses with a
 * ValueError) is `403 {"message":"Access denied"}`. Unlike upstream, uploads and downloads
 * stream: neither holds a file in memory.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { AgentDeps } from '../deps.js';
import { AgentError } from '../errors.js';
import { listDir, openForRead, statPath } from '../fs/files.js';
import type { FileMeta } from '../fs/files.js';
import { writeFileAtomic } from '../fs/write.js';
import { pyFloat, pyQuote, pyStatSeconds } from '@sandbank/proto';
import { RawJson, sendJson, sendMessage, sendValidationError } from './respond.js';

const STREAM_CHUNK_BYTES = 64 * 1024;

/**
 * Whether a failure is a refusal of the path itself (outside the workspace, or not a path at all),
 * which upstream answers `403 {"message":"Access denied"}`.
 */
function accessDenied(error: unknown): boolean {
  const code = AgentError.from(error).code;
  return code === 'permission_denied' || code === 'invalid_argument';
}

export async function handleUpload(
  deps: AgentDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const missing = (): void =>
    sendValidationError(res, [
      { type: 'missing', loc: ['body', 'file'], msg: 'Field required', input: null },
    ]);
  let parser: busboy.Busboy;
  try {
    // preservePath: the filename is the destination path, directories included.
    parser = busboy({ headers: req.headers, preservePath: true });
  } catch {
    req.resume();
    missing();
    return;
  }
  const outcome = new Promise<() => void>((resolve, reject) => {
    let upload: Promise<() => void> | undefined;
    let uploading: (NodeJS.ReadableStream & { destroy(error?: Error): void }) | undefined;
    let plainField: string | undefined;
    parser.on('file', (field, stream, info) => {
      // A truncated body destroys the part's stream with the parser's error, possibly before
      // anything reads it (the write is still opening its file, or the part is skipped): the
      // reader sees it as the stream's failure; unheard, it would be an uncaught 'error' that
      // ends the agent. The parser's own 'error' (below) answers the request.
      stream.on('error', () => undefined);
      if (field !== 'file' || upload) {
        stream.resume();
        return;
      }
      uploading = stream;
      upload = saveUpload(deps, res, info.filename ?? '', stream);
    });
    parser.on('field', (field, value) => {
      if (field === 'file') plainField = value;
    });
    parser.on('close', () => {
      if (upload) {
        upload.then(resolve, reject);
        return;
      }
      resolve(() =>
        plainField === undefined
          ? missing()
          : sendValidationError(res, [
              {
                type: 'value_error',
                loc: ['body', 'file'],
                msg: "Value error, Expected UploadFile, received: <class 'str'>",
                input: plainField,
                ctx: { error: {} },
              },
            ]),
      );
    });
    parser.on('error', (error: Error) => {
      // A malformed or truncated body: stop the write (its temporary file is removed), then 422.
      uploading?.destroy(error);
      if (upload) {
        const answerMissing = (): void => resolve(missing);
        upload.then(answerMissing, answerMissing);
      } else resolve(missing);
    });
  });
  req.pipe(parser);
  (await outcome)();
}

/** Writes one uploaded file; returns how to answer once the multipart body is consumed. */
async function saveUpload(
  deps: AgentDeps,
  res: ServerResponse,
  filename: string,
  stream: NodeJS.ReadableStream & AsyncIterable<Buffer>,
): Promise<() => void> {
  try {
    await writeFileAtomic(deps.workspace, filename, stream, { style: 'legacy' });
    return () => sendMessage(res, 200, `File '${filename}' uploaded successfully.`);
  } catch (error) {
    stream.resume(); // let the parser finish the body
    if (accessDenied(error)) return () => sendMessage(res, 403, 'Access denied');
    const agentError = AgentError.from(error, filename);
    if (agentError.code === 'internal') deps.logger.error({ err: error }, 'upload failed');
    return () => sendMessage(res, 500, `File upload failed: ${agentError.message}`);
  }
}

export async function handleDownload(deps: AgentDeps, res: ServerResponse, path: string): Promise<void> {
  let opened;
  try {
    opened = await openForRead(deps.workspace, path, { chunkSize: STREAM_CHUNK_BYTES, style: 'legacy' });
  } catch (error) {
    if (accessDenied(error)) {
      sendMessage(res, 403, 'Access denied');
      return;
    }
    // A FIFO, socket or device is failed_precondition: not a file upstream could serve either.
    const code = AgentError.from(error).code;
    if (code === 'not_found' || code === 'failed_precondition') {
      sendMessage(res, 404, 'File not found');
      return;
    }
    throw error;
  }
  const { meta, stream } = opened;
  const mtime = pyStatSeconds(meta.mtimeNs);
  const quoted = pyQuote(path);
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    'content-disposition':
      quoted === path ? `attachment; filename="${path}"` : `attachment; filename*=utf-8''${quoted}`,
    'content-length': String(meta.size),
    'last-modified': new Date(Math.floor(mtime) * 1000).toUTCString(),
    etag: `"${createHash('md5')
      .update(`${pyFloat(mtime)}-${meta.size}`)
      .digest('hex')}"`,
  });
  if (stream) await pipeline(stream, res);
  else res.end();
}

export async function handleList(deps: AgentDeps, res: ServerResponse, path: string): Promise<void> {
  let entries: FileMeta[];
  try {
    entries = await listDir(deps.workspace, path, { followLinks: true, style: 'legacy' });
  } catch (error) {
    if (accessDenied(error)) {
      sendMessage(res, 403, 'Access denied');
      return;
    }
    const code = AgentError.from(error).code;
    if (code === 'not_found' || code === 'failed_precondition') {
      sendMessage(res, 404, 'Path is not a directory');
      return;
    }
    sendMessage(res, 500, `List files failed: ${AgentError.from(error).message}`);
    return;
  }
  sendJson(
    res,
    200,
    entries.map((e) => ({
      name: e.name,
      size: new RawJson(String(e.size)),
      type: e.kind === 'directory' ? 'directory' : 'file',
      mod_time: new RawJson(pyFloat(pyStatSeconds(e.mtimeNs))),
    })),
  );
}

export async function handleExists(deps: AgentDeps, res: ServerResponse, path: string): Promise<void> {
  let exists = true;
  try {
    await statPath(deps.workspace, path, 'legacy');
  } catch (error) {
    if (accessDenied(error)) {
      sendMessage(res, 403, 'Access denied');
      return;
    }
    exists = false; // os.path.exists: any other error (missing, dangling link, not a directory) is False
  }
  sendJson(res, 200, { path, exists });
}
