import { jsonTextProblem, jsonValueProblem } from './json-limits';

const limits = { maxDepth: 3, maxKeys: 2 };
const text = (json: string): string | undefined => jsonTextProblem(Buffer.from(json), limits)?.code;
const value = (json: string): string | undefined => jsonValueProblem(JSON.parse(json), limits)?.code;

describe('JSON limits', () => {
  it.each([
    ['scalars', '42', undefined],
    ['three levels', '{"a": [{"b": 1}]}', undefined],
    ['three levels of arrays, closed and reopened', '[[[1]], [[2]], [[3]]]', undefined],
    ['four levels', '{"a": [{"b": []}]}', 'too_deep'],
    ['four levels of arrays', '[[[[]]]]', 'too_deep'],
    ['two keys per object, three in all', '{"a": 1, "b": {"c": 2}}', undefined],
    ['three keys in one object', '{"a": 1, "b": 2, "c": 3}', 'too_many_keys'],
    ['many array items, which are not keys', '[1, 2, 3, 4, 5, 6]', undefined],
  ])('%s', (_, json, code) => {
    expect(text(json)).toBe(code);
    expect(value(json)).toBe(code);
  });

  it.each([
    ['brackets inside strings', '{"a": "[[[[[[{{{{"}', undefined],
    ['colons inside strings and keys', '{"a:b": "c:d:e:f"}', undefined],
    ['escaped quotes and backslashes', '{"a": "\\"[[[[\\\\", "b": "\\\\"}', undefined],
    ['an escaped quote before real nesting', '{"a": "\\"", "b": [[[1]]]}', 'too_deep'],
    ['multi-byte characters', '{"ä€😀": "[[[[ä€😀"}', undefined],
  ])('scans text: %s', (_, json, code) => {
    expect(text(json)).toBe(code);
  });

  it('names the setting in its message', () => {
    expect(jsonTextProblem(Buffer.from('[[[[]]]]'), limits)?.message).toBe(
      'JSON nests deeper than 3 levels (MAX_JSON_DEPTH)',
    );
    expect(jsonValueProblem({ a: 1, b: 2, c: 3 }, limits)?.message).toBe(
      'a JSON object has more than 2 keys (MAX_JSON_KEYS)',
    );
  });

  it('takes 30,000 nested arrays without recursion, at both ends', () => {
    const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    const big = { maxDepth: 32, maxKeys: 1000 };
    expect(jsonTextProblem(Buffer.from(deep), big)?.code).toBe('too_deep');
    expect(jsonValueProblem(JSON.parse(deep), big)?.code).toBe('too_deep');
  });
});
