/** Responses in the legacy runtime's exact bytes (FastAPI's JSONResponse encoding). */
import type { Response } from 'express';
import { pyJson } from './python.js';

export function sendPyJson(res: Response, status: number, body: unknown): void {
  const bytes = Buffer.from(pyJson(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length) });
  res.end(bytes);
}

/** The runtime's own error bodies (`{"message": …}`), as opposed to the router's `{"detail": …}`. */
export function sendPyMessage(res: Response, status: number, message: string): void {
  sendPyJson(res, status, { message });
}
