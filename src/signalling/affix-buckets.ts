/**
 * Values grouped by a literal affix (a prefix, or a suffix), so a lookup
 * probes one map per distinct affix length instead of testing every value.
 */
export class AffixBuckets<T> {
  private readonly byAffix = new Map<string, Map<string, T>>();
  /** Affix length to how many keys have an affix that long. */
  private readonly lengths = new Map<number, number>();
  private sortedLengths: number[] = [];
  private count = 0;

  constructor(private readonly fromEnd: boolean) {}

  get size(): number {
    return this.count;
  }

  get(affix: string, key: string): T | undefined {
    return this.byAffix.get(affix)?.get(key);
  }

  set(affix: string, key: string, value: T): void {
    let bucket = this.byAffix.get(affix);
    if (!bucket) this.byAffix.set(affix, (bucket = new Map<string, T>()));
    if (bucket.has(key)) return void bucket.set(key, value);
    bucket.set(key, value);
    this.count++;
    this.countLength(affix.length, 1);
  }

  delete(affix: string, key: string): void {
    const bucket = this.byAffix.get(affix);
    if (!bucket?.delete(key)) return;
    if (bucket.size === 0) this.byAffix.delete(affix);
    this.count--;
    this.countLength(affix.length, -1);
  }

  /** Every value whose affix is a prefix (or suffix) of `text`. */
  probe(text: string, visit: (value: T) => void): void {
    for (const length of this.sortedLengths) {
      if (length > text.length) break;
      const affix = this.fromEnd ? text.slice(text.length - length) : text.slice(0, length);
      const bucket = this.byAffix.get(affix);
      if (bucket) for (const value of bucket.values()) visit(value);
    }
  }

  private countLength(length: number, delta: number): void {
    const before = this.lengths.get(length) ?? 0;
    const after = before + delta;
    if (after > 0) this.lengths.set(length, after);
    else this.lengths.delete(length);
    if (before === 0 || after === 0) this.sortedLengths = [...this.lengths.keys()].sort((a, b) => a - b);
  }
}
