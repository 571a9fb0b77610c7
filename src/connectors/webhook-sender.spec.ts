import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RESPONSE_BODY_LIMIT, WebhookSender } from './webhook-sender';

describe('WebhookSender', () => {
  let server: http.Server;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let url: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const send = async (timeoutMs = 1000): Promise<ReturnType<WebhookSender['send']>> => {
    const sender = new WebhookSender(url, true);
    try {
      return await sender.send('{}', { 'content-type': 'application/json' }, timeoutMs);
    } finally {
      sender.close();
    }
  };

  it('counts a 2xx as delivered and anything else as failed, with the status and answer', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    expect(await send()).toMatchObject({ ok: true, status: 204 });
    handler = (_req, res) => res.writeHead(500).end('no database');
    expect(await send()).toMatchObject({ ok: false, status: 500, error: 'HTTP 500: no database' });
  });

  it('does not follow a redirect', async () => {
    let followed = false;
    handler = (req, res) => {
      if (req.url === '/elsewhere') followed = true;
      res.writeHead(307, { location: '/elsewhere' }).end();
    };
    expect(await send()).toMatchObject({ ok: false, status: 307, error: expect.stringContaining('not followed') });
    expect(followed).toBe(false);
  });

  it('reads a large answer only up to its bound', async () => {
    handler = (_req, res) => {
      res.writeHead(400);
      res.write('x'.repeat(RESPONSE_BODY_LIMIT));
      // Never ends: the sender must not wait for the rest.
      res.write('y'.repeat(RESPONSE_BODY_LIMIT));
    };
    const result = await send(5000);
    expect(result).toMatchObject({ ok: false, status: 400 });
    expect(result.error?.length).toBeLessThanOrEqual(RESPONSE_BODY_LIMIT + 20);
    expect(result.durationMs).toBeLessThan(4000);
  });

  it('gives up at the timeout, and refuses private addresses unless allowed', async () => {
    handler = () => undefined;
    expect(await send(100)).toMatchObject({ ok: false, error: 'timed out after 100 ms' });
    const guarded = new WebhookSender(url.replace('127.0.0.1', 'localhost'), false);
    const refused = await guarded.send('{}', {}, 1000);
    guarded.close();
    expect(refused).toMatchObject({ ok: false, error: expect.stringMatching(/loopback or private/) });
  });
});
