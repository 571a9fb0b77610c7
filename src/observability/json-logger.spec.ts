import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import { JsonLogger } from './json-logger';
import { redactUrl, requestContext } from './request-context';

function capture(level: 'info' | 'debug' = 'info'): { logger: JsonLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = new JsonLogger(level, {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { logger, lines };
}

describe('JsonLogger', () => {
  it('writes one JSON object per line with the Nest context, and fields a caller passes', () => {
    const { logger, lines } = capture();
    logger.log('Started', 'Main');
    logger.warn({ msg: 'Slow', ms: 1200 }, 'Bus');
    logger.error('Boom', 'Error: Boom\n    at x', 'Ingest');
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, msg: 'Started', context: 'Main', service: 'devicehub-bridge' }),
      expect.objectContaining({ level: 40, msg: 'Slow', ms: 1200, context: 'Bus' }),
      expect.objectContaining({ level: 50, msg: 'Boom', context: 'Ingest', stack: 'Error: Boom\n    at x' }),
    ]);
  });

  it('leaves out what LOG_LEVEL does not ask for', () => {
    const { logger, lines } = capture('info');
    logger.debug('per message', 'Ingest');
    logger.verbose('per message', 'Ingest');
    expect(lines).toEqual([]);
  });

  it('adds the id of the request being handled to every line logged while handling it', () => {
    const { logger, lines } = capture();
    const res = Object.assign(new EventEmitter(), { setHeader: jest.fn(), statusCode: 200, writableFinished: true });
    const req = { headers: { 'x-request-id': 'abc-1' }, method: 'GET', url: '/x' } as unknown as IncomingMessage;
    requestContext()(req, res as unknown as ServerResponse, () => {
      logger.log('inside', 'Handler');
    });
    logger.log('outside', 'Handler');
    expect(res.setHeader).toHaveBeenCalledWith('X-Request-Id', 'abc-1');
    expect(lines[0]).toMatchObject({ msg: 'inside', requestId: 'abc-1' });
    expect(lines[1]).not.toHaveProperty('requestId');
  });

  it('takes no client-chosen request id that could forge log fields', () => {
    const { logger, lines } = capture();
    const res = Object.assign(new EventEmitter(), { setHeader: jest.fn(), statusCode: 200 });
    const req = {
      headers: { 'x-request-id': 'a"}\n{"level":60' },
      method: 'GET',
      url: '/',
    } as unknown as IncomingMessage;
    requestContext()(req, res as unknown as ServerResponse, () => logger.log('inside'));
    expect(lines[0].requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps tokens out of logged URLs', () => {
    expect(redactUrl('/iot/stream/_all/?token=eyJ.abc&last_event_id=5')).toBe(
      '/iot/stream/_all/?token=…&last_event_id=5',
    );
    expect(redactUrl('/x?a=1&access_token=s3cret')).toBe('/x?a=1&access_token=…');
  });
});
