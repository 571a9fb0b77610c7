import { compileChannelPattern } from '../auth/channel-pattern';
import { channelProblem, isReservedChannel, isValidPeerId, isWildcardPattern, patternCovers } from './channel-rules';

describe('channel rules', () => {
  it('accepts names up to 256 bytes without control characters', () => {
    expect(channelProblem('things/ws/ws-001/data')).toBeUndefined();
    expect(channelProblem('x'.repeat(256))).toBeUndefined();
    expect(channelProblem('x'.repeat(257))).toBe('channel exceeds 256 bytes');
    // 128 characters but 384 bytes: the limit is in bytes.
    expect(channelProblem('€'.repeat(128))).toBe('channel exceeds 256 bytes');
    expect(channelProblem('a\u0001b')).toBe('channel contains control characters');
    expect(channelProblem('a\u0085b')).toBe('channel contains control characters');
    expect(channelProblem('')).toBe('channel must be a non-empty string');
    expect(channelProblem(42)).toBe('channel must be a non-empty string');
  });

  it('reserves _metered/, _internal/ and _system/ in any case', () => {
    expect(isReservedChannel('_metered/x')).toBe(true);
    expect(isReservedChannel('_SYSTEM/x')).toBe(true);
    expect(isReservedChannel('_internal/')).toBe(true);
    expect(isReservedChannel('_internalx/')).toBe(false);
    expect(isReservedChannel('room/_system/x')).toBe(false);
  });

  it('takes printable ASCII peer ids up to 128 characters', () => {
    expect(isValidPeerId('user-1 (desk)')).toBe(true);
    expect(isValidPeerId('x'.repeat(128))).toBe(true);
    expect(isValidPeerId('x'.repeat(129))).toBe(false);
    expect(isValidPeerId('é')).toBe(false);
    expect(isValidPeerId('')).toBe(false);
    expect(isValidPeerId(7)).toBe(false);
  });

  it('tells wildcard patterns from literal names', () => {
    expect(isWildcardPattern('a/*')).toBe(true);
    expect(isWildcardPattern('a/**')).toBe(true);
    expect(isWildcardPattern('a/\\*')).toBe(false);
    expect(isWildcardPattern('room-1')).toBe(false);
  });

  describe('patternCovers', () => {
    it.each([
      ['things/**', 'things/weatherstation/*/data', true],
      ['things/**', 'things/**', true],
      ['things/*/*/data', 'things/weatherstation/*/data', true],
      ['things/*/*/data', 'things/**', false],
      ['things/weatherstation/*', 'things/weatherstation/**', false],
      ['fleet/sensor-*/telemetry', 'fleet/sensor-1*/telemetry', true],
      ['fleet/sensor-1*/telemetry', 'fleet/sensor-*/telemetry', false],
      ['**', 'anything/**/at/*', true],
      ['room-1', 'room-1', true],
      ['room-1', 'room-*', false],
      ['a/\\*', 'a/*', false],
      ['a/*', 'a/\\*', true],
      ['a*', 'a/b', false],
    ])('%s covers %s: %s', (claim, pattern, expected) => {
      expect(patternCovers(claim, pattern)).toBe(expected);
    });

    it('never claims coverage that a concrete channel disproves', () => {
      let seed = 11;
      const random = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
      const build = (pieces: string[], max: number): string =>
        Array.from({ length: 1 + Math.floor(random() * max) }, () => pieces[Math.floor(random() * pieces.length)]).join(
          '',
        );
      let covered = 0;
      for (let i = 0; i < 3000; i++) {
        const claim = build(['a', 'b', '/', '*', '**', '\\*'], 4);
        const pattern = build(['a', 'b', '/', '*', '**', '\\*'], 4);
        if (!patternCovers(claim, pattern)) continue;
        covered++;
        const c = compileChannelPattern(claim);
        const p = compileChannelPattern(pattern);
        for (let k = 0; k < 30; k++) {
          const channel = build(['a', 'b', '/', '*'], 6);
          if (p.test(channel))
            expect({ claim, pattern, channel, allowed: c.test(channel) }).toEqual({
              claim,
              pattern,
              channel,
              allowed: true,
            });
        }
      }
      expect(covered).toBeGreaterThan(100);
    });
  });
});
