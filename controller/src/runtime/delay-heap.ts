/**
 * A binary min-heap of (due time, key) for the work queue's delayed adds: O(log n) insert and
 * pop, so thousands of pending requeue timers (TTLs, shutdown times) share one real timer.
 */

export interface DelayEntry<K> {
  readonly at: number;
  readonly key: K;
  /** Insertion order: equal due times come out first-in, first-out. */
  readonly seq: number;
}

export class DelayHeap<K> {
  private readonly items: DelayEntry<K>[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): DelayEntry<K> | undefined {
    return this.items[0];
  }

  push(at: number, key: K): void {
    const items = this.items;
    items.push({ at, key, seq: this.seq++ });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): DelayEntry<K> | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < items.length && this.less(l, smallest)) smallest = l;
      if (r < items.length && this.less(r, smallest)) smallest = r;
      if (smallest === i) break;
      this.swap(i, smallest);
      i = smallest;
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }

  private less(a: number, b: number): boolean {
    const x = this.items[a];
    const y = this.items[b];
    if (x === undefined || y === undefined) return false;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const x = items[a];
    const y = items[b];
    if (x === undefined || y === undefined) return;
    items[a] = y;
    items[b] = x;
  }
}
