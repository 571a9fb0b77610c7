import { z } from 'zod';
import { InvalidRequestError } from './domain-error';
import { jsonBody, name, parseOrThrow, queryNumber, queryText } from './validate';

function fields(schema: z.ZodType, value: unknown): Record<string, string> {
  try {
    parseOrThrow(schema, value);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return (err as InvalidRequestError).fields ?? {};
  }
  throw new Error('expected the value to be refused');
}

describe('HTTP input schemas', () => {
  const limit = queryNumber({ min: 1, max: 100, fallback: 10, message: 'must be an integer from 1 to 100' });
  const query = z.object({ limit, client: queryText(/^[a-z]{1,8}$/, 'must be 1 to 8 letters') });

  it('reads bounded numbers from digits only, with a fallback for absent or empty', () => {
    expect(parseOrThrow(query, {})).toEqual({ limit: 10 });
    expect(parseOrThrow(query, { limit: '', client: '' })).toEqual({ limit: 10 });
    expect(parseOrThrow(query, { limit: '100' }).limit).toBe(100);
    for (const bad of ['0', '101', '1e1', '0x10', ' 5', '5.0', '-1']) {
      expect(fields(query, { limit: bad })).toEqual({ limit: 'must be an integer from 1 to 100' });
    }
  });

  it('names a repeated query parameter as given twice', () => {
    expect(fields(query, { limit: ['1', '2'], client: ['a', 'b'] })).toEqual({
      limit: 'must be given once',
      client: 'must be given once',
    });
  });

  it('names every bad body field once, and a body that is no object as `body`', () => {
    const body = jsonBody({ device_type: name(), count: z.number({ error: 'must be a number' }) });
    expect(fields(body, { device_type: 'a/b', count: 'x' })).toEqual({
      device_type: 'must be a string of 1 to 128 characters without /, +, # or whitespace',
      count: 'must be a number',
    });
    expect(fields(body, [1, 2])).toEqual({ body: 'must be a JSON object' });
    expect(fields(body, undefined)).toEqual({ body: 'must be a JSON object' });
  });

  it('gives the message the error filter sends: each field and what is wrong with it', () => {
    try {
      parseOrThrow(query, { limit: '0', client: '1' });
    } catch (err) {
      expect((err as InvalidRequestError).message).toBe(
        'limit: must be an integer from 1 to 100; client: must be 1 to 8 letters',
      );
    }
    expect.assertions(1);
  });
});
