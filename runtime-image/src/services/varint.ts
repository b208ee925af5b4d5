/**
 * Protobuf varints for the hand-written output-frame encoders (exec-codec.ts, process-codec.ts),
 * which skip protobuf-es on the hot path. Values are non-negative safe integers.
 */

/** How many bytes `value` takes as a varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` as a varint at `at`; returns the next index. */
export function writeVarint(target: Buffer, at: number, value: number): number {
  for (let v = value; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      target[at++] = v;
      return at;
    }
    target[at++] = (v % 128) | 0x80;
  }
}
