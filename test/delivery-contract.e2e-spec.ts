import type mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import type { Transport } from './support/transport-clients';
import { TRANSPORTS, eventsOf } from './support/transport-clients';
import { clientToken, connectDevice, numbering, numbersOf, publishNumbers } from './support/web-clients';

/**
 * The contract every web transport keeps (issue #3; issue #14, item 8):
 * resume from an id with no gap and no duplicate, the device and
 * event_types filters and the token's channel claims, the end of the
 * stream when the token expires, and a reset notice when the position is
 * older than the log keeps. One suite, run against each transport as its
 * users open it. (Slow consumers: delivery-slow-consumer.e2e-spec.ts, for
 * the transports that stream.)
 */
describe.each(TRANSPORTS.map((t) => [t.name, t] as [string, Transport]))(
  '%s keeps the delivery contract',
  (name, transport) => {
    let app: TestApp;
    let device: mqtt.MqttClient;
    let token: string;
    const next = numbering();
    /** A device type of this test's own, so that no test sees another's events. */
    const typeFor = (what: string): string => `${what}-${name.replace(/\W/g, '')}`.toLowerCase();

    beforeAll(async () => {
      app = await bootApp();
      token = clientToken(app);
      device = await connectDevice(app, `contract-${name.replace(/\W/g, '')}`);
    });
    afterAll(async () => {
      await device.endAsync();
      await app.stop();
    });

    it('resumes after an id it gave, with no gap and no duplicate', async () => {
      const type = typeFor('resume');
      const first = await transport.open(app, { deviceType: type, token });
      const numbers = next(6);
      await publishNumbers(app, device, type, 'r-1', numbers.slice(0, 3));
      const seen = await eventsOf(first, 3, 'the first three events');
      first.close();
      await publishNumbers(app, device, type, 'r-1', numbers.slice(3));
      const resumed = await transport.open(app, { deviceType: type, lastEventId: seen[1].id, token });
      await eventsOf(resumed, 4, 'the events after the second');
      expect(numbersOf(resumed.events())).toEqual(numbers.slice(2));
      expect(resumed.resets()).toEqual([]);
      resumed.close();
    });

    it('selects by device and by event_types, and within the token claims', async () => {
      const type = typeFor('filter');
      const narrow = clientToken(app, { channels: [`${app.config.mqtt.topicPrefix}/${type}/f-2/*`] });
      const byDevice = await transport.open(app, { deviceType: type, deviceId: 'f-2', token });
      const statusOnly = await transport.open(app, { deviceType: type, eventTypes: ['status'], token });
      const claimed = await transport.open(app, { deviceType: type, token: narrow });
      const everything = await transport.open(app, { deviceType: type, token });
      const numbers = next(2);
      await publishNumbers(app, device, type, 'f-1', [numbers[0]]);
      await publishNumbers(app, device, type, 'f-2', [numbers[1]]);
      const status = (id: string, value: string): Promise<unknown> =>
        device.publishAsync(`${app.config.mqtt.topicPrefix}/${type}/${id}/status`, JSON.stringify({ status: value }), {
          qos: 1,
        });
      await status('f-1', 'maintenance');
      // Last, an event that every client should get: each client is sent events in log order, so once it
      // has this one it has had its chance at everything published before (a poller polls at its own pace).
      await status('f-2', 'maintenance');
      const isLast = (e: { event: string; device_id: string }): boolean => e.event === 'status' && e.device_id === 'f-2';
      for (const [client, what] of [
        [everything, 'everything'],
        [byDevice, 'device f-2'],
        [statusOnly, 'status only'],
        [claimed, 'the claim on f-2'],
      ] as const) {
        await waitFor(() => client.events().find(isLast), `the last status event (${what})`, 10_000);
      }
      expect(numbersOf(everything.events())).toEqual(numbers);
      expect(numbersOf(byDevice.events())).toEqual([numbers[1]]);
      expect(byDevice.events().every((e) => e.device_id === 'f-2')).toBe(true);
      expect(statusOnly.events().map((e) => `${e.event} ${e.device_id}`)).toEqual(['status f-1', 'status f-2']);
      expect(numbersOf(claimed.events())).toEqual([numbers[1]]);
      expect(claimed.events().every((e) => e.device_id === 'f-2')).toBe(true);
      [byDevice, statusOnly, claimed, everything].forEach((c) => c.close());
    });

    it('ends the stream with token_expired when the token runs out, and then refuses it', async () => {
      const shortLived = clientToken(app, { expiresInSec: 2 });
      const client = await transport.open(app, { deviceType: typeFor('expiry'), token: shortLived });
      expect(await client.ended).toBe('token_expired');
      expect(await transport.refusal(app, { deviceType: typeFor('expiry'), token: shortLived })).toBe('token_expired');
      client.close();
    });

    it('tells a client whose position is older than the log keeps, then carries on live', async () => {
      const short = await bootApp({ EVENT_RETENTION: '1s' });
      const shortToken = clientToken(short);
      const shortDevice = await connectDevice(short, `reset-${name.replace(/\W/g, '')}`);
      const type = typeFor('reset');
      try {
        const first = await transport.open(short, { deviceType: type, token: shortToken });
        await publishNumbers(short, shortDevice, type, 'x-1', [1, 2]);
        const [oldest] = await eventsOf(first, 2, 'the first events');
        first.close();
        const old = String(Number(oldest.id) - 1);
        // Pruning runs every second with EVENT_RETENTION=1s; a later event keeps the log from being empty.
        await publishNumbers(short, shortDevice, type, 'x-1', [3]);
        let resumed = await transport.open(short, { deviceType: type, lastEventId: old, token: shortToken });
        await waitFor(
          async () => {
            if (resumed.resets().length > 0) return true;
            resumed.close();
            resumed = await transport.open(short, { deviceType: type, lastEventId: old, token: shortToken });
            return undefined;
          },
          'a reset notice once the events are pruned',
          15_000,
        );
        expect(resumed.resets()[0]).toMatchObject({ requested: old, last_event_id: expect.any(String) });
        await publishNumbers(short, shortDevice, type, 'x-1', [4]);
        await waitFor(() => (numbersOf(resumed.events()).includes(4) ? true : undefined), 'a live event after it');
        expect(numbersOf(resumed.events())).not.toContain(1);
        resumed.close();
      } finally {
        await shortDevice.endAsync();
        await short.stop();
      }
    });
  },
);
