/** A client of `GET …/processes/{id}/attach`: reads its binary frames as they arrive. */
import { splitFrames } from '@sandbank/testing';
import type { AttachFrame } from '@sandbank/testing';

export { outputOf } from '@sandbank/testing';
export type { AttachFrame } from '@sandbank/testing';

export interface AttachRead {
  readonly status: number;
  readonly contentType: string | null;
  readonly frames: AttachFrame[];
  /** Set when the body ended other than cleanly (a cut connection). */
  readonly error: unknown;
}

/**
 * Reads an attach response; `onFrame` sees each frame as it arrives (and may act, e.g. stop the
 * router). A body cut mid-way is not thrown: it is `error`, with the frames read before it.
 */
export async function readAttach(
  url: string,
  onFrame: (frame: AttachFrame, all: readonly AttachFrame[]) => void | Promise<void> = () => undefined,
): Promise<AttachRead> {
  const res = await fetch(url);
  const frames: AttachFrame[] = [];
  let error: unknown;
  if (res.status !== 200 || res.body === null) {
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      frames,
      error: await res.text(),
    };
  }
  let buf: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of res.body) {
      buf = Buffer.concat([buf, Buffer.from(chunk)]);
      const before = frames.length;
      buf = splitFrames(buf, frames);
      for (const f of frames.slice(before)) await onFrame(f, frames);
    }
    if (buf.length > 0) error = new Error(`${buf.length} bytes of a partial frame at the end`);
  } catch (e) {
    error = e;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), frames, error };
}
