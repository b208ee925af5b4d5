/**
 * Secret masking on a byte stream: every occurrence of a secret value becomes `***`, also when
 * it arrives split across chunks. To see a split secret, the masker holds back the longest tail
 * of each chunk that could still begin a secret (at most the longest secret's length minus one
 * byte) until the next chunk or the end shows whether it does. So output is delayed by at most
 * that many bytes, and only while such a tail is pending.
 */

export const MASK = Buffer.from('***');

export class SecretMasker {
  private readonly secrets: readonly Buffer[];
  private carry: Buffer = Buffer.alloc(0);

  /** Empty values are ignored (there is nothing to hide in them). */
  constructor(secrets: Iterable<string>) {
    const unique = new Set<string>();
    for (const s of secrets) if (s !== '') unique.add(s);
    // Longest first, so at one position the longest secret wins over one of its prefixes.
    this.secrets = [...unique].map((s) => Buffer.from(s)).sort((a, b) => b.length - a.length);
  }

  /** Whether there is anything to mask at all (callers skip the masker otherwise). */
  get active(): boolean {
    return this.secrets.length > 0;
  }

  /** Masks `chunk`; returns the bytes that are final (possibly empty). */
  push(chunk: Buffer): Buffer {
    return this.scan(this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]), false);
  }

  /** Masks and returns whatever was held back; call once at the end of the stream. */
  flush(): Buffer {
    return this.scan(this.carry, true);
  }

  private scan(data: Buffer, final: boolean): Buffer {
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      let at = -1;
      let length = 0;
      for (const secret of this.secrets) {
        const i = data.indexOf(secret, pos);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          length = secret.length;
        }
      }
      if (at < 0) break;
      out.push(data.subarray(pos, at), MASK);
      pos = at + length;
    }
    const keep = final ? 0 : this.pendingPrefix(data, pos);
    out.push(data.subarray(pos, data.length - keep));
    this.carry = Buffer.from(data.subarray(data.length - keep));
    return out.length === 1 ? (out[0] ?? Buffer.alloc(0)) : Buffer.concat(out);
  }

  /** Length of the longest suffix of data[from..] that is a proper prefix of some secret. */
  private pendingPrefix(data: Buffer, from: number): number {
    const longest = this.secrets[0]?.length ?? 0;
    for (let k = Math.min(longest - 1, data.length - from); k > 0; k--) {
      const tail = data.subarray(data.length - k);
      if (this.secrets.some((s) => s.length > k && s.subarray(0, k).equals(tail))) return k;
    }
    return 0;
  }
}
