/**
 * OutputRing: absolute offsets, wrap-around, reading an offset the ring has dropped, a reader
 * that falls behind, exact boundaries, zero-length writes, many small writes, stream tags, and
 * memory taken from (and given back to) an allocator.
 */
import { OutputRing } from '../../src/process/output-ring.js';
import type { RingAllocator, RingChunk } from '../../src/process/output-ring.js';

const bytes = (text: string): Buffer => Buffer.from(text);

/** Everything readable from `from` (up to `limit`), chunk by chunk. */
function readAll(ring: OutputRing, from = 0, maxBytes?: number, limit?: number): RingChunk[] {
  const out: RingChunk[] = [];
  for (let at = from; ;) {
    const chunk = ring.read(at, maxBytes, limit);
    if (!chunk) return out;
    out.push(chunk);
    at = chunk.offset + chunk.data.length;
  }
}
const text = (chunks: RingChunk[]): string => Buffer.concat(chunks.map((c) => c.data)).toString();

/** An allocator with a budget, recording what is outstanding. */
function budget(total: number): RingAllocator & { used: number; total: number } {
  const a = {
    used: 0,
    total,
    reserve(n: number): number {
      const granted = Math.max(0, Math.min(n, a.total - a.used));
      a.used += granted;
      return granted;
    },
    release(n: number): void {
      a.used -= n;
    },
  };
  return a;
}

describe('offsets', () => {
  it('starts empty at offset 0 and counts every byte written', () => {
    const ring = new OutputRing(16);
    expect([ring.first, ring.end]).toEqual([0, 0]);
    expect(ring.read(0)).toBeUndefined();
    ring.write('stdout', bytes('hello'));
    ring.write('stdout', bytes(' world'));
    expect([ring.first, ring.end]).toEqual([0, 11]);
    expect(ring.read(0)).toEqual({ offset: 0, stream: 'stdout', data: bytes('hello world') });
    expect(ring.read(6)).toEqual({ offset: 6, stream: 'stdout', data: bytes('world') });
    expect(ring.read(11)).toBeUndefined();
    expect(ring.read(500)).toBeUndefined();
  });

  it('ignores zero-length writes (no offset, no run, no wake-up)', async () => {
    const ring = new OutputRing(8);
    ring.write('stderr', Buffer.alloc(0));
    expect(ring.end).toBe(0);
    let woke = false;
    ring.changed().then(
      () => (woke = true),
      () => undefined,
    );
    ring.write('stdout', new Uint8Array(0));
    await Promise.resolve();
    expect(woke).toBe(false);
    ring.write('stdout', bytes('a'));
    expect(ring.read(0)).toEqual({ offset: 0, stream: 'stdout', data: bytes('a') });
  });

  it('wraps around: the newest `capacity` bytes stay readable, in order', () => {
    const ring = new OutputRing(10);
    ring.write('stdout', bytes('0123456'));
    ring.write('stdout', bytes('789abc')); // 13 bytes: 0-2 dropped, the tail wraps
    expect([ring.first, ring.end]).toEqual([3, 13]);
    expect(text(readAll(ring))).toBe('3456789abc');
    // A read that starts past the physical end of the buffer and continues at its beginning.
    expect(ring.read(8)).toEqual({ offset: 8, stream: 'stdout', data: bytes('89abc') });
  });

  it('reads an evicted offset from the first retained byte, and says where it starts', () => {
    const ring = new OutputRing(4);
    ring.write('stdout', bytes('abcdefgh'));
    expect(ring.first).toBe(4);
    const chunk = ring.read(1);
    expect(chunk?.offset).toBe(4);
    expect(chunk?.data.toString()).toBe('efgh');
  });

  it('holds exactly capacity bytes: filling it drops nothing, one byte more drops one', () => {
    const ring = new OutputRing(8);
    ring.write('stdout', bytes('abcd'));
    ring.write('stdout', bytes('efgh'));
    expect([ring.first, ring.end]).toEqual([0, 8]);
    expect(text(readAll(ring))).toBe('abcdefgh');
    ring.write('stdout', bytes('i'));
    expect([ring.first, ring.end]).toEqual([1, 9]);
    expect(text(readAll(ring))).toBe('bcdefghi');
  });

  it('keeps the tail of one write larger than the ring, with its true offset', () => {
    const ring = new OutputRing(4);
    ring.write('stdout', bytes('xy'));
    ring.write('stderr', bytes('0123456789'));
    expect([ring.first, ring.end]).toEqual([8, 12]);
    expect(ring.read(0)).toEqual({ offset: 8, stream: 'stderr', data: bytes('6789') });
  });

  it('caps a chunk at maxBytes and at the limit', () => {
    const ring = new OutputRing(32);
    ring.write('stdout', bytes('abcdefghij'));
    expect(readAll(ring, 0, 4).map((c) => [c.offset, c.data.toString()])).toEqual([
      [0, 'abcd'],
      [4, 'efgh'],
      [8, 'ij'],
    ]);
    expect(text(readAll(ring, 2, undefined, 5))).toBe('cde');
    expect(ring.read(5, undefined, 5)).toBeUndefined();
  });

  it('returns copies: later writes that overwrite the region do not change a chunk read', () => {
    const ring = new OutputRing(4);
    ring.write('stdout', bytes('abcd'));
    const chunk = ring.read(0);
    ring.write('stdout', bytes('WXYZ'));
    expect(chunk?.data.toString()).toBe('abcd');
  });
});

describe('stream tags', () => {
  it('never mixes streams in one chunk and keeps their interleaving', () => {
    const ring = new OutputRing(64);
    ring.write('stdout', bytes('out1 '));
    ring.write('stdout', bytes('out2 '));
    ring.write('stderr', bytes('err1 '));
    ring.write('stdout', bytes('out3'));
    expect(readAll(ring).map((c) => [c.offset, c.stream, c.data.toString()])).toEqual([
      [0, 'stdout', 'out1 out2 '],
      [10, 'stderr', 'err1 '],
      [15, 'stdout', 'out3'],
    ]);
    // From the middle of a run.
    expect(ring.read(12)).toEqual({ offset: 12, stream: 'stderr', data: bytes('r1 ') });
  });

  it('keeps the right tag for the partly evicted oldest run', () => {
    const ring = new OutputRing(6);
    ring.write('stderr', bytes('EEEE'));
    ring.write('stdout', bytes('oooo')); // drops 'EE'
    expect(readAll(ring).map((c) => [c.offset, c.stream, c.data.toString()])).toEqual([
      [2, 'stderr', 'EE'],
      [4, 'stdout', 'oooo'],
    ]);
  });

  it('bounds the bookkeeping of a writer that alternates streams every byte', () => {
    const ring = new OutputRing(4096); // at most 16 runs
    for (let i = 0; i < 10_000; i++) ring.write(i % 2 === 0 ? 'stdout' : 'stderr', bytes('x'));
    expect(ring.end).toBe(10_000);
    const chunks = readAll(ring);
    expect(chunks.length).toBeLessThanOrEqual(16);
    expect(ring.end - ring.first).toBe(chunks.length);
    // What is left is still tagged correctly: even offsets are stdout.
    for (const c of chunks) expect(c.stream).toBe(c.offset % 2 === 0 ? 'stdout' : 'stderr');
  });
});

describe('readers', () => {
  it('a slow reader never holds the writer: it loses the dropped bytes and sees the gap', () => {
    const ring = new OutputRing(8);
    ring.write('stdout', bytes('aaaa'));
    const first = ring.read(0, 2);
    expect(first).toEqual({ offset: 0, stream: 'stdout', data: bytes('aa') });
    // The writer goes on while the reader is away: 20 more bytes through an 8-byte ring.
    for (let i = 0; i < 5; i++) ring.write('stdout', bytes('bbbb'));
    const next = ring.read(2);
    expect(next?.offset).toBe(16); // not 2: bytes 2..15 are gone for everyone
    expect(next?.data.toString()).toBe('bbbbbbbb');
  });

  it('many small writes read back as the same bytes at the same offsets', () => {
    const ring = new OutputRing(1 << 16);
    let expected = '';
    for (let i = 0; i < 5000; i++) {
      const piece = `${i},`;
      ring.write('stdout', bytes(piece));
      expected += piece;
    }
    expect(ring.end).toBe(expected.length);
    expect(text(readAll(ring, 0, 1000))).toBe(expected);
  });

  it('wakes every waiting reader at a write, and at close', async () => {
    const ring = new OutputRing(8);
    const a = ring.changed();
    const b = ring.changed();
    expect(ring.waiters).toBe(2);
    ring.write('stdout', bytes('x'));
    await Promise.all([a, b]);
    expect(ring.waiters).toBe(0);
    const c = ring.changed();
    ring.close();
    await c;
    await ring.changed(); // closed: resolves at once
    expect(ring.closed).toBe(true);
    expect(() => ring.write('stdout', bytes('y'))).toThrow('write after close');
  });

  it('forgets a reader whose wait is aborted, so giving up costs nothing afterwards', async () => {
    const ring = new OutputRing(8);
    for (let i = 0; i < 100; i++) {
      const abort = new AbortController();
      const waiting = ring.changed(abort.signal);
      abort.abort();
      await waiting;
    }
    expect(ring.waiters).toBe(0);
    const aborted = AbortSignal.abort();
    await ring.changed(aborted); // already aborted: at once, nothing kept
    expect(ring.waiters).toBe(0);
  });
});

describe('memory', () => {
  it('starts small and grows by doubling up to its capacity', () => {
    const alloc = budget(1 << 30);
    const capacity = 1 << 20;
    alloc.reserve(64 * 1024); // what the owner reserves for the first allocation
    const ring = new OutputRing(capacity, alloc, 64 * 1024);
    ring.write('stdout', Buffer.alloc(1000, 1));
    expect(ring.allocated).toBe(64 * 1024);
    ring.write('stdout', Buffer.alloc(70 * 1024, 2));
    expect(ring.allocated).toBe(128 * 1024);
    ring.write('stdout', Buffer.alloc(2 * capacity, 3));
    expect(ring.allocated).toBe(capacity);
    expect(alloc.used).toBe(capacity);
    expect(ring.end - ring.first).toBe(capacity);
  });

  it('keeps its data, wrapped, across growth', () => {
    const alloc = budget(8);
    alloc.reserve(8);
    const ring = new OutputRing(64, alloc, 8);
    ring.write('stdout', bytes('abcdef'));
    ring.write('stdout', bytes('ghij')); // no memory to grow: wraps, dropping 'ab'
    expect([ring.first, ring.end, ring.allocated]).toEqual([2, 10, 8]);
    alloc.total = 64;
    ring.write('stderr', bytes('klmn')); // grows to the capacity, moving the wrapped bytes
    expect(ring.allocated).toBe(64);
    expect(readAll(ring).map((c) => [c.offset, c.stream, c.data.toString()])).toEqual([
      [2, 'stdout', 'cdefghij'],
      [10, 'stderr', 'klmn'],
    ]);
  });

  it('drops old bytes sooner when the allocator grants less than asked', () => {
    const alloc = budget(16);
    alloc.reserve(8);
    const ring = new OutputRing(1024, alloc, 8);
    ring.write('stdout', bytes('0123456789abcdefghijklmnop')); // 26 bytes; only 16 granted in all
    expect(ring.allocated).toBe(16);
    expect(alloc.used).toBe(16);
    expect(text(readAll(ring))).toBe('abcdefghijklmnop');
  });

  it('counts but drops everything when it has no memory at all', () => {
    const ring = new OutputRing(16, budget(0), 0);
    ring.write('stdout', bytes('lost'));
    expect([ring.first, ring.end]).toEqual([4, 4]);
    expect(ring.read(0)).toBeUndefined();
  });

  it('shrinks to the retained bytes on close and gives everything back on release', () => {
    const alloc = budget(1 << 20);
    alloc.reserve(64 * 1024);
    const ring = new OutputRing(1 << 20, alloc, 64 * 1024);
    ring.write('stdout', bytes('done\n'));
    ring.close();
    expect(ring.allocated).toBe(5);
    expect(alloc.used).toBe(5);
    expect(ring.read(0)?.data.toString()).toBe('done\n');
    ring.release();
    expect(alloc.used).toBe(0);
    expect(ring.read(0)).toBeUndefined();
  });
});
