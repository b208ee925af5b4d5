/**
 * The body of `GET …/processes/{id}/attach` (application/vnd.sandbank.process-output): frames of
 * kind (1 byte), offset (8 bytes, big-endian), payload length (4 bytes, big-endian), payload.
 */

export interface AttachFrame {
  /** 0 attached, 1 stdout, 2 stderr, 3 exit. */
  readonly kind: number;
  readonly offset: number;
  readonly payload: Buffer;
}

/** Splits whole frames off the front of `buf` onto `out`; returns what is left (a partial frame). */
export function splitFrames(buf: Buffer, out: AttachFrame[]): Buffer {
  let rest = buf;
  while (rest.length >= 13) {
    const len = rest.readUInt32BE(9);
    if (rest.length < 13 + len) break;
    out.push({
      kind: rest.readUInt8(0),
      offset: Number(rest.readBigUInt64BE(1)),
      payload: Buffer.from(rest.subarray(13, 13 + len)),
    });
    rest = rest.subarray(13 + len);
  }
  return rest;
}

/** The output bytes of the frames (stdout and stderr), in order, as UTF-8. */
export function outputOf(frames: readonly AttachFrame[]): string {
  return Buffer.concat(frames.filter((f) => f.kind === 1 || f.kind === 2).map((f) => f.payload)).toString(
    'utf8',
  );
}
