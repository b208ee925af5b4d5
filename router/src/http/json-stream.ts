/**
 * A JSON response whose big string values (a buffered exec's stdout and stderr) are encoded from
 * their bytes piece by piece as they are written, never as one string. JSON escaping can make text
 * six times its size (each NUL byte is `\u0000`): holding it whole would let one request's output
 * take six times its budget of the router's memory. The length is counted by a first pass over
 * the same pieces, so the response still carries Content-Length.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ServerResponse } from 'node:http';
import { drainOrClose } from './drain.js';

/** Bytes decoded per piece: a multiple of 3, so base64 pieces concatenate without padding. */
const PIECE_BYTES = 15 * 1024;

/** A JSON string value made from bytes. */
export interface TextValue {
  readonly bytes: Uint8Array;
  /** utf8: decoded as Buffer#toString does (invalid sequences → U+FFFD); base64: encoded. */
  readonly encoding: 'utf8' | 'base64';
  /** `\r\n` and `\r` become `\n` (Python's text-mode subprocess output). */
  readonly universalNewlines?: boolean;
}

/** A piece of a JSON document: JSON text as it is, or a string value made from bytes. */
export type JsonPiece = string | TextValue;

const view = (bytes: Uint8Array, start: number, end: number): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(end, bytes.length) - start);

/** The decoded text of `value`, piece by piece (each at most PIECE_BYTES of input). */
function* decodedPieces(value: TextValue): Generator<string> {
  const { bytes } = value;
  if (value.encoding === 'base64') {
    for (let i = 0; i < bytes.length; i += PIECE_BYTES)
      yield view(bytes, i, i + PIECE_BYTES).toString('base64');
    return;
  }
  const decoder = new StringDecoder('utf8');
  let heldCr = false;
  const translate = (text: string): string => {
    if (!value.universalNewlines) return text;
    // A `\r` at a piece's end may be the first half of `\r\n`: it waits for the next piece.
    let t = heldCr ? `\r${text}` : text;
    heldCr = t.endsWith('\r');
    if (heldCr) t = t.slice(0, -1);
    return t.replace(/\r\n?/g, '\n');
  };
  for (let i = 0; i < bytes.length; i += PIECE_BYTES) {
    yield translate(decoder.write(view(bytes, i, i + PIECE_BYTES)));
  }
  const rest = translate(decoder.end());
  yield heldCr ? `${rest}\n` : rest;
}

/** The JSON text of `value` (quotes included), piece by piece. */
export function* jsonStringPieces(value: TextValue): Generator<string> {
  yield '"';
  for (const text of decodedPieces(value)) {
    // base64 needs no escaping; JSON.stringify escapes as the whole-string call would.
    if (text !== '') yield value.encoding === 'base64' ? text : JSON.stringify(text).slice(1, -1);
  }
  yield '"';
}

function* allPieces(pieces: readonly JsonPiece[]): Generator<string> {
  for (const piece of pieces) {
    if (typeof piece === 'string') yield piece;
    else yield* jsonStringPieces(piece);
  }
}

/** The UTF-8 length of the document, without building it. */
export function jsonLength(pieces: readonly JsonPiece[]): number {
  let n = 0;
  for (const text of allPieces(pieces)) n += Buffer.byteLength(text, 'utf8');
  return n;
}

/**
 * Writes the document as the response, honouring backpressure: a slow reader holds back the
 * encoding, not a growing socket buffer. Stops quietly when the client is gone.
 */
export async function sendJsonPieces(
  res: ServerResponse,
  status: number,
  contentType: string,
  pieces: readonly JsonPiece[],
): Promise<void> {
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(jsonLength(pieces)) });
  let pending = '';
  for (const text of allPieces(pieces)) {
    pending += text;
    if (pending.length < PIECE_BYTES) continue;
    if (res.destroyed) return;
    const more = res.write(pending);
    pending = '';
    if (!more) await drainOrClose(res);
  }
  if (res.destroyed) return;
  res.end(pending);
}
