import { compileChannelPattern } from '../auth/channel-pattern';
import { SubscriptionIndex } from './subscription-index';

function patternsMatching(index: SubscriptionIndex<string>, channel: string): string[] {
  return index
    .matching(channel)
    .map((e) => e.pattern)
    .sort();
}

function indexOf(...patterns: string[]): SubscriptionIndex<string> {
  const index = new SubscriptionIndex<string>();
  for (const p of patterns) index.add(p, `sub:${p}`, true);
  return index;
}

/** A tiny deterministic PRNG so a failing random case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('SubscriptionIndex', () => {
  it('matches exact channels and nothing else', () => {
    const index = indexOf('things/ws/ws-001/data', 'things/ws/ws-002/data');
    expect(patternsMatching(index, 'things/ws/ws-001/data')).toEqual(['things/ws/ws-001/data']);
    expect(patternsMatching(index, 'things/ws/ws-001')).toEqual([]);
    expect(patternsMatching(index, 'things/ws/ws-001/data/x')).toEqual([]);
  });

  it('matches * within one segment only', () => {
    const index = indexOf('things/*/ws-001/data', 'fleet/sensor-*/telemetry', 'fleet/*-b/telemetry', 'a/*');
    expect(patternsMatching(index, 'things/weather/ws-001/data')).toEqual(['things/*/ws-001/data']);
    expect(patternsMatching(index, 'things/a/b/ws-001/data')).toEqual([]);
    expect(patternsMatching(index, 'fleet/sensor-/telemetry')).toEqual(['fleet/sensor-*/telemetry']);
    expect(patternsMatching(index, 'fleet/sensor-b/telemetry')).toEqual([
      'fleet/*-b/telemetry',
      'fleet/sensor-*/telemetry',
    ]);
    expect(patternsMatching(index, 'fleet/sensor-x/y/telemetry')).toEqual([]);
    expect(patternsMatching(index, 'a/')).toEqual(['a/*']);
    expect(patternsMatching(index, 'a')).toEqual([]);
  });

  it('matches ** across segments, including an empty run', () => {
    const index = indexOf('things/**', '**', 'things/**/data', 'x**y', '**/cmd');
    expect(patternsMatching(index, 'things/ws/ws-001/data')).toEqual(['**', 'things/**', 'things/**/data']);
    expect(patternsMatching(index, 'things/')).toEqual(['**', 'things/**']);
    expect(patternsMatching(index, 'things')).toEqual(['**']);
    expect(patternsMatching(index, 'things//data')).toEqual(['**', 'things/**', 'things/**/data']);
    expect(patternsMatching(index, 'things/data')).toEqual(['**', 'things/**']);
    expect(patternsMatching(index, 'x/a/b/y')).toEqual(['**', 'x**y']);
    expect(patternsMatching(index, 'things/a/cmd')).toEqual(['**', '**/cmd', 'things/**']);
  });

  it('reads \\* and \\\\ as literals, and any other backslash as itself', () => {
    const index = indexOf('a/\\*', 'a/\\\\*', 'b\\x/c', 'd/\\**');
    expect(patternsMatching(index, 'a/*')).toEqual(['a/\\*']);
    expect(patternsMatching(index, 'a/x')).toEqual([]);
    expect(patternsMatching(index, 'a/\\')).toEqual(['a/\\\\*']);
    expect(patternsMatching(index, 'a/\\xyz')).toEqual(['a/\\\\*']);
    expect(patternsMatching(index, 'b\\x/c')).toEqual(['b\\x/c']);
    expect(patternsMatching(index, 'd/*')).toEqual(['d/\\**']);
    expect(patternsMatching(index, 'd/*abc')).toEqual(['d/\\**']);
    expect(patternsMatching(index, 'd/abc')).toEqual([]);
  });

  it('keeps equivalent spellings of a pattern apart', () => {
    // `a\x` and `a\\x` both mean the literal `a\x`.
    const index = indexOf('a\\x', 'a\\\\x');
    expect(patternsMatching(index, 'a\\x')).toEqual(['a\\\\x', 'a\\x']);
    index.remove('a\\x', 'sub:a\\x');
    expect(patternsMatching(index, 'a\\x')).toEqual(['a\\\\x']);
  });

  it('tracks subscribers per pattern and forgets empty patterns', () => {
    const index = new SubscriptionIndex<string, { meta: boolean }>();
    expect(index.add('room/*', 'p1', { meta: false })).toBe(true);
    expect(index.add('room/*', 'p1', { meta: true })).toBe(false);
    expect(index.add('room/*', 'p2', { meta: false })).toBe(true);
    expect([...(index.subscribers('room/*') ?? new Map())]).toEqual([
      ['p1', { meta: true }],
      ['p2', { meta: false }],
    ]);
    expect(index.remove('room/*', 'p1')).toBe(true);
    expect(index.remove('room/*', 'p1')).toBe(false);
    expect(index.size).toBe(1);
    index.remove('room/*', 'p2');
    expect(index.size).toBe(0);
    expect(index.matching('room/a')).toEqual([]);
    expect(index.subscribers('room/*')).toBeUndefined();
  });

  it('prunes the trie so removed patterns never match again', () => {
    const index = indexOf('a/b/c', 'a/*/c', 'a/x*/c', 'a/**', 'a/b/**/c');
    for (const p of ['a/b/c', 'a/*/c', 'a/x*/c', 'a/**', 'a/b/**/c']) index.remove(p, `sub:${p}`);
    expect(index.size).toBe(0);
    for (const channel of ['a/b/c', 'a/xb/c', 'a/b/q/c', 'a/']) expect(index.matching(channel)).toEqual([]);
    index.add('a/x*/c', 'again', true);
    expect(patternsMatching(index, 'a/xyz/c')).toEqual(['a/x*/c']);
  });

  it('agrees with compileChannelPattern on random patterns and channels', () => {
    const random = rng(4);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const patternPieces = ['a', 'b', '/', '*', '**', '\\*', '\\\\', '\\', 'ab'];
    const channelPieces = ['a', 'b', '/', '*', '\\', 'ab'];
    for (let round = 0; round < 200; round++) {
      const patterns = new Set<string>();
      while (patterns.size < 25) {
        let p = '';
        const length = 1 + Math.floor(random() * 7);
        for (let i = 0; i < length; i++) p += pick(patternPieces);
        patterns.add(p);
      }
      const index = new SubscriptionIndex<string>();
      for (const p of patterns) index.add(p, p, true);
      const regexes = [...patterns].map((p) => [p, compileChannelPattern(p)] as const);
      for (let c = 0; c < 25; c++) {
        let channel = '';
        const length = 1 + Math.floor(random() * 8);
        for (let i = 0; i < length; i++) channel += pick(channelPieces);
        const expected = regexes
          .filter(([, re]) => re.test(channel))
          .map(([p]) => p)
          .sort();
        expect({ channel, matched: patternsMatching(index, channel) }).toEqual({ channel, matched: expected });
      }
    }
  });

  it('tests only the patterns that can match a channel, not every pattern', () => {
    const index = new SubscriptionIndex<string>();
    for (let i = 0; i < 10_000; i++) {
      index.add(`things/type-${i % 100}/dev-${i}/data`, `a${i}`, true);
      index.add(`fleet/sensor-${i}*/telemetry`, `b${i}`, true);
      index.add(`things/type-${i}/**`, `c${i}`, true);
    }
    expect(index.size).toBe(30_000);
    // A scan would run 30,000 regex tests per message. The trie answers exact
    // segments and a bare `**` with map lookups, and tests a glob only when its
    // literal prefix is a prefix of the segment.
    const regexTests = jest.spyOn(RegExp.prototype, 'test');
    const exact = patternsMatching(index, 'things/type-7/dev-7/data');
    const testedForExact = regexTests.mock.calls.map(([segment]) => segment);
    regexTests.mockClear();
    const globbed = patternsMatching(index, 'fleet/sensor-123x/telemetry');
    const testedForGlobs = regexTests.mock.calls.map(([segment]) => segment);
    regexTests.mockRestore();

    expect(exact).toEqual(['things/type-7/**', 'things/type-7/dev-7/data']);
    expect(testedForExact).toEqual([]);
    expect(globbed).toEqual(['fleet/sensor-1*/telemetry', 'fleet/sensor-12*/telemetry', 'fleet/sensor-123*/telemetry']);
    expect(testedForGlobs).toEqual(['sensor-123x', 'sensor-123x', 'sensor-123x']);
  });
});
