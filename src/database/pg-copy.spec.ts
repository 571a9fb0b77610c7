import { copyField, copyJson } from './pg-copy';

describe('copyField', () => {
  it('writes null as \\N and numbers as JavaScript prints them', () => {
    expect(copyField(null)).toBe('\\N');
    expect(copyField(21.5)).toBe('21.5');
    expect(copyField(1e21)).toBe('1e+21');
    expect(copyField(1764650000000)).toBe('1764650000000');
  });

  it('escapes what COPY text gives a meaning: backslash, tab, newline, carriage return', () => {
    expect(copyField('plain')).toBe('plain');
    expect(copyField('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    // A field that is exactly \N is text, not null, once escaped.
    expect(copyField('\\N')).toBe('\\\\N');
  });

  it('escapes only backslashes in JSON text, and writes a null one as \\N', () => {
    expect(copyJson(JSON.stringify({ path: 'C:\\x', q: '"' }))).toBe('{"path":"C:\\\\\\\\x","q":"\\\\""}');
    expect(copyJson('{"a":1}')).toBe('{"a":1}');
    expect(copyJson(null)).toBe('\\N');
  });

  it('replaces NUL and lone surrogates, which PostgreSQL text cannot hold', () => {
    expect(copyField('a\u0000b')).toBe('a\ufffdb');
    expect(copyField('x\ud800')).toBe('x\ufffd');
  });

  it('refuses numbers COPY cannot read back', () => {
    expect(() => copyField(Number.NaN)).toThrow('COPY field must be a finite number, got NaN');
    expect(() => copyField(Number.POSITIVE_INFINITY)).toThrow('finite number');
  });
});
