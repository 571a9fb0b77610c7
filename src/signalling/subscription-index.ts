import { compileChannelPattern } from '../auth/channel-pattern';
import { AffixBuckets } from './affix-buckets';
import { GLOBSTAR, STAR, tokenizePattern } from './channel-rules';

/** Everyone subscribed to one pattern string, with what each asked for. */
export interface PatternEntry<S, V> {
  readonly pattern: string;
  readonly subscribers: Map<S, V>;
}

/** A `/`-separated segment of a pattern, classified for the trie. */
type Segment =
  | { kind: 'exact'; literal: string }
  | { kind: 'star' }
  | { kind: 'glob'; raw: string; prefix: string }
  | { kind: 'deep'; raw: string; suffix: string };

/** A single-segment wildcard such as `sensor-*`, with the subtree under it. */
interface Glob<S, V> {
  readonly raw: string;
  readonly regex: RegExp;
  readonly node: TrieNode<S, V>;
}

/** Patterns whose rest (from this segment on) holds a `**`: tested against the channel's rest. */
interface Deep<S, V> {
  readonly raw: string;
  /** Undefined for a bare `**`, which matches any rest. */
  readonly regex: RegExp | undefined;
  readonly entries: Map<string, PatternEntry<S, V>>;
}

class TrieNode<S, V> {
  readonly exact = new Map<string, TrieNode<S, V>>();
  star: TrieNode<S, V> | undefined;
  readonly globs = new AffixBuckets<Glob<S, V>>(false);
  readonly deep = new AffixBuckets<Deep<S, V>>(true);
  /** Patterns that end at this node (several raw spellings may mean the same thing). */
  readonly ends = new Map<string, PatternEntry<S, V>>();

  get empty(): boolean {
    return (
      this.exact.size === 0 &&
      this.star === undefined &&
      this.globs.size === 0 &&
      this.deep.size === 0 &&
      this.ends.size === 0
    );
  }
}

/**
 * Which subscription patterns match a channel, without scanning every
 * pattern (issue #4: 10,000 distinct patterns is a normal backend). A trie
 * over `/`-separated segments: exact segments are map lookups, a bare `*`
 * segment is one branch, other single-segment wildcards are bucketed by
 * their literal prefix, and a pattern's tail from its first `**` segment on
 * is bucketed by literal suffix and tested against the channel's tail. The
 * semantics are exactly `compileChannelPattern`'s (the unit spec checks
 * agreement on random patterns).
 */
export class SubscriptionIndex<S, V = true> {
  private readonly root = new TrieNode<S, V>();
  private readonly entries = new Map<string, PatternEntry<S, V>>();

  /** Distinct patterns with at least one subscriber. */
  get size(): number {
    return this.entries.size;
  }

  /** Adds (or updates) a subscriber of a pattern; true when the subscriber is new to it. */
  add(pattern: string, subscriber: S, value: V): boolean {
    let entry = this.entries.get(pattern);
    if (!entry) {
      entry = { pattern, subscribers: new Map() };
      this.entries.set(pattern, entry);
      this.insert(pattern, entry);
    }
    const fresh = !entry.subscribers.has(subscriber);
    entry.subscribers.set(subscriber, value);
    return fresh;
  }

  /** True when the subscriber was subscribed to the pattern. */
  remove(pattern: string, subscriber: S): boolean {
    const entry = this.entries.get(pattern);
    if (!entry?.subscribers.delete(subscriber)) return false;
    if (entry.subscribers.size === 0) {
      this.entries.delete(pattern);
      this.prune(pattern);
    }
    return true;
  }

  /** The subscribers of one pattern string (not of the channels it matches). */
  subscribers(pattern: string): ReadonlyMap<S, V> | undefined {
    return this.entries.get(pattern)?.subscribers;
  }

  /** Calls `visit` once for each pattern entry matching the concrete channel. */
  match(channel: string, visit: (entry: PatternEntry<S, V>) => void): void {
    // The device mirror asks once per event, also when nobody subscribes.
    if (this.entries.size === 0) return;
    this.walk(this.root, channel, channel.split('/'), 0, 0, visit);
  }

  /** The entries matching a channel, as a list (for tests and small callers). */
  matching(channel: string): PatternEntry<S, V>[] {
    const found: PatternEntry<S, V>[] = [];
    this.match(channel, (e) => found.push(e));
    return found;
  }

  private walk(
    node: TrieNode<S, V>,
    channel: string,
    segments: string[],
    index: number,
    offset: number,
    visit: (entry: PatternEntry<S, V>) => void,
  ): void {
    if (index < segments.length && node.deep.size > 0) {
      const rest = offset === 0 ? channel : channel.slice(offset);
      node.deep.probe(rest, (deep) => {
        if (deep.regex === undefined || deep.regex.test(rest)) for (const entry of deep.entries.values()) visit(entry);
      });
    }
    if (index === segments.length) {
      for (const entry of node.ends.values()) visit(entry);
      return;
    }
    const segment = segments[index];
    const next = offset + segment.length + 1;
    const exact = node.exact.get(segment);
    if (exact) this.walk(exact, channel, segments, index + 1, next, visit);
    if (node.star) this.walk(node.star, channel, segments, index + 1, next, visit);
    if (node.globs.size > 0) {
      node.globs.probe(segment, (glob) => {
        if (glob.regex.test(segment)) this.walk(glob.node, channel, segments, index + 1, next, visit);
      });
    }
  }

  private insert(pattern: string, entry: PatternEntry<S, V>): void {
    let node = this.root;
    for (const segment of parsePattern(pattern)) {
      switch (segment.kind) {
        case 'exact': {
          let child = node.exact.get(segment.literal);
          if (!child) node.exact.set(segment.literal, (child = new TrieNode()));
          node = child;
          break;
        }
        case 'star':
          node = node.star ??= new TrieNode();
          break;
        case 'glob': {
          let glob = node.globs.get(segment.prefix, segment.raw);
          if (!glob) {
            glob = { raw: segment.raw, regex: compileChannelPattern(segment.raw), node: new TrieNode() };
            node.globs.set(segment.prefix, segment.raw, glob);
          }
          node = glob.node;
          break;
        }
        case 'deep': {
          let deep = node.deep.get(segment.suffix, segment.raw);
          if (!deep) {
            deep = {
              raw: segment.raw,
              regex: segment.raw === '**' ? undefined : compileChannelPattern(segment.raw),
              entries: new Map(),
            };
            node.deep.set(segment.suffix, segment.raw, deep);
          }
          deep.entries.set(pattern, entry);
          return;
        }
      }
    }
    node.ends.set(pattern, entry);
  }

  /** Removes a pattern's entry and every trie node left empty by it. */
  private prune(pattern: string): void {
    const path: { node: TrieNode<S, V>; segment: Segment }[] = [];
    let node: TrieNode<S, V> | undefined = this.root;
    for (const segment of parsePattern(pattern)) {
      path.push({ node, segment });
      if (segment.kind === 'deep') {
        const deep = node.deep.get(segment.suffix, segment.raw);
        deep?.entries.delete(pattern);
        if (deep?.entries.size === 0) node.deep.delete(segment.suffix, segment.raw);
        path.pop();
        node = undefined;
        break;
      }
      node =
        segment.kind === 'exact'
          ? node.exact.get(segment.literal)
          : segment.kind === 'star'
            ? node.star
            : node.globs.get(segment.prefix, segment.raw)?.node;
      if (!node) return;
    }
    node?.ends.delete(pattern);
    // Unlink empty children from the deepest level up.
    for (let i = path.length - 1; i >= 0; i--) {
      const { node: parent, segment } = path[i];
      const child =
        segment.kind === 'exact'
          ? parent.exact.get(segment.literal)
          : segment.kind === 'star'
            ? parent.star
            : segment.kind === 'glob'
              ? parent.globs.get(segment.prefix, segment.raw)?.node
              : undefined;
      if (!child?.empty) return;
      if (segment.kind === 'exact') parent.exact.delete(segment.literal);
      else if (segment.kind === 'star') parent.star = undefined;
      else if (segment.kind === 'glob') parent.globs.delete(segment.prefix, segment.raw);
    }
  }
}

/**
 * Splits a pattern into trie segments. `/` is never part of an escape, so
 * splitting on it first is exact; a segment holding `**` ends the walk and
 * carries the rest of the pattern with it.
 */
function parsePattern(pattern: string): Segment[] {
  const raws = pattern.split('/');
  const segments: Segment[] = [];
  for (let i = 0; i < raws.length; i++) {
    const tokens = tokenizePattern(raws[i]);
    if (tokens.includes(GLOBSTAR)) {
      const rest = raws.slice(i).join('/');
      const restTokens = tokenizePattern(rest);
      let suffix = '';
      for (let t = restTokens.length - 1; t >= 0; t--) {
        const token = restTokens[t];
        if (typeof token !== 'string') break;
        suffix = token + suffix;
      }
      segments.push({ kind: 'deep', raw: rest, suffix });
      return segments;
    }
    if (tokens.every((t) => typeof t === 'string')) segments.push({ kind: 'exact', literal: tokens.join('') });
    else if (tokens.length === 1 && tokens[0] === STAR) segments.push({ kind: 'star' });
    else {
      let prefix = '';
      for (const token of tokens) {
        if (typeof token !== 'string') break;
        prefix += token;
      }
      segments.push({ kind: 'glob', raw: raws[i], prefix });
    }
  }
  return segments;
}
