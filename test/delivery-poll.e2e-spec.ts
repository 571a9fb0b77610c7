import type mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import type { WireEvent } from './support/web-clients';
import { clientToken, connectDevice, numbersOf, publishNumbers, numbering } from './support/web-clients';

interface PollAnswer {
  events: WireEvent[];
  cursor: string;
  more: boolean;
  reset?: true;
}

/**
 * Polling at DeviceHub's paths (issue #3): cursors are event ids, oldest
 * first, `limit`, "since this client's previous poll" without a cursor, and
 * long polls that answer as soon as an event arrives.
 */
describe('polling /iot/poll/', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;
  const next = numbering();
  const poll = async (path: string, query = '', headers: Record<string, string> = {}): Promise<PollAnswer> => {
    const res = await fetch(`${app.url}/iot/poll/${path}?${query}`, {
      headers: { Authorization: `Bearer ${token}`, ...headers },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as PollAnswer;
  };

  /** Resolves once `count` events after `cursor` are in the log (a cursor poll as another client). */
  const logged = async (path: string, cursor: string, count: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while ((await poll(path, `cursor=${cursor}&limit=1000&client_id=observer`)).events.length < count) {
      if (Date.now() > deadline) throw new Error(`${count} events did not reach the log`);
      await poll(path, `cursor=${cursor}&wait=1&client_id=observer`);
    }
  };

  beforeAll(async () => {
    app = await bootApp();
    token = clientToken(app);
    device = await connectDevice(app, 'poll');
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  it('pages after a cursor, oldest first, at most limit, and says when more are waiting', async () => {
    const start = await poll('paged/', 'client_id=pager');
    expect(start).toEqual({ events: [], cursor: expect.stringMatching(/^\d+$/), more: false });
    const numbers = next(5);
    await publishNumbers(app, device, 'paged', 'p-1', numbers);
    await logged('paged/', start.cursor, 5);
    const page1 = await poll('paged/', `cursor=${start.cursor}&limit=3`);
    expect(numbersOf(page1.events)).toEqual(numbers.slice(0, 3));
    expect(page1.more).toBe(true);
    expect(page1.cursor).toBe(page1.events[2].id);
    const page2 = await poll('paged/p-1/', `cursor=${page1.cursor}&limit=3`);
    expect(numbersOf(page2.events)).toEqual(numbers.slice(3));
    expect(page2.more).toBe(false);
    const empty = await poll('paged/', `cursor=${page2.cursor}`);
    expect(empty.events).toEqual([]);
  });

  it('without a cursor, answers the events since this client last polled that path', async () => {
    const first = await poll('since/', 'client_id=since-a');
    expect(first.events).toEqual([]);
    await poll('since/', 'client_id=since-b');
    const numbers = next(4);
    await publishNumbers(app, device, 'since', 's-1', numbers.slice(0, 2));
    await logged('since/', first.cursor, 2);
    const a1 = await poll('since/', 'client_id=since-a');
    expect(numbersOf(a1.events)).toEqual(numbers.slice(0, 2));
    await publishNumbers(app, device, 'since', 's-1', numbers.slice(2));
    await logged('since/', first.cursor, 4);
    const a2 = await poll('since/', 'client_id=since-a');
    expect(numbersOf(a2.events)).toEqual(numbers.slice(2));
    // Another client keeps its own position.
    const b1 = await poll('since/', 'client_id=since-b');
    expect(numbersOf(b1.events)).toEqual(numbers);
  });

  it('tells clients apart by token sub, or by a cookie it sets when there is no token', async () => {
    const other = clientToken(app, { peerId: 'other-poller' });
    const noAuth = await bootApp({ AUTH: 'off' });
    try {
      const res = await fetch(`${noAuth.url}/iot/poll/cookie/`);
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
      expect(cookie).toMatch(/^poll_client=[\w-]+$/);
      const noAuthDevice = await connectDevice(noAuth, 'poll-cookie');
      const [number] = next(1);
      await publishNumbers(noAuth, noAuthDevice, 'cookie', 'c-1', [number]);
      await noAuthDevice.endAsync();
      const again = (await (
        await fetch(`${noAuth.url}/iot/poll/cookie/?wait=5`, { headers: { Cookie: cookie } })
      ).json()) as PollAnswer;
      expect(numbersOf(again.events)).toEqual([number]);
    } finally {
      await noAuth.stop();
    }
    await poll('by-sub/', '', { Authorization: `Bearer ${other}` });
    const [number] = next(1);
    await publishNumbers(app, device, 'by-sub', 'b-1', [number]);
    const mine = await poll('by-sub/', 'wait=5', { Authorization: `Bearer ${other}` });
    expect(numbersOf(mine.events)).toEqual([number]);
  });

  it('long-polls: answers as soon as an event arrives, or empty at the deadline', async () => {
    const start = await poll('long/', 'client_id=long');
    const started = Date.now();
    const waiting = poll('long/', `cursor=${start.cursor}&wait=20`);
    const [number] = next(1);
    await publishNumbers(app, device, 'long', 'l-1', [number]);
    const answer = await waiting;
    expect(numbersOf(answer.events)).toEqual([number]);
    // Far below the 20 s asked for: it answered on arrival.
    expect(Date.now() - started).toBeLessThan(10_000);
    const idle = await poll('long/', `cursor=${answer.cursor}&wait=1`);
    expect(idle).toEqual({ events: [], cursor: answer.cursor, more: false });
  });

  it('refuses bad parameters with 400 naming each, and a missing token with 401', async () => {
    const res = await fetch(`${app.url}/iot/poll/_all/?cursor=abc&limit=5000&wait=31&client_id=${'x'.repeat(200)}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { fields: Record<string, string> };
    expect(Object.keys(body.fields).sort()).toEqual(['client_id', 'cursor', 'limit', 'wait']);
    const anonymous = await fetch(`${app.url}/iot/poll/_all/`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: 'missing_token' });
  });
});
