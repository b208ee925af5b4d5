/** Responses in the legacy runtime's exact bytes (FastAPI's JSONResponse encoding). */
import type { Response } from 'express';
import { sendJsonPieces } from '../json-stream.js';
import type { JsonPiece } from '../json-stream.js';
import { pyJson } from './python.js';

export function sendPyJson(res: Response, status: number, body: unknown): void {
  const bytes = Buffer.from(pyJson(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length) });
  res.end(bytes);
}

/**
 * A body with big string values (a buffered exec's output), encoded as it is written; the pieces
 * are JSON text in pyJson's spelling (no spaces), the strings escaped as json.dumps escapes them.
 */
export function sendPyJsonStream(res: Response, status: number, pieces: readonly JsonPiece[]): Promise<void> {
  return sendJsonPieces(res, status, 'application/json', pieces);
}

/** The runtime's own error bodies (`{"message": …}`), as opposed to the router's `{"detail": …}`. */
export function sendPyMessage(res: Response, status: number, message: string): void {
  sendPyJson(res, status, { message });
}
