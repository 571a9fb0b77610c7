import { DeviceTypes } from '../config/device-types';
import type { RouteResult } from './mqtt-router';
import { MqttRouter } from './mqtt-router';

const AT = Date.parse('2025-01-15T12:00:05.000Z');
const options = { topicPrefix: 'things', maxMessageSize: 256, json: { maxDepth: 4, maxKeys: 8 } };
const open = new MqttRouter(options, new DeviceTypes());
const declared = new MqttRouter(
  options,
  DeviceTypes.parse(
    JSON.stringify({
      accept_undeclared: false,
      types: {
        weatherstation: {
          readings: { temperature: { type: 'number', range: [-40, 85] }, humidity: { type: 'number' } },
        },
      },
    }),
  ),
);

const route = (router: MqttRouter, topic: string, payload: unknown): RouteResult =>
  router.route(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload)), AT);
const origin = { deviceType: 'weatherstation', deviceId: 'ws-001', receivedAt: AT };

describe('MqttRouter', () => {
  describe('data', () => {
    it('reads a flat message, with and without a device timestamp', () => {
      expect(route(open, 'things/weatherstation/ws-001/data', { temperature: 25.3, humidity: 80.1 })).toEqual({
        kind: 'message',
        message: { kind: 'data', ...origin, samples: [{ values: { temperature: 25.3, humidity: 80.1 } }] },
      });
      expect(
        route(open, 'things/weatherstation/ws-001/data', { temperature: 25.3, timestamp: '2025-01-15T13:00:00+01:00' }),
      ).toEqual({
        kind: 'message',
        message: {
          kind: 'data',
          ...origin,
          samples: [{ timestamp: '2025-01-15T12:00:00.000Z', values: { temperature: 25.3 } }],
        },
      });
    });

    it('reads a readings list as one sample (per distinct timestamp)', () => {
      const list = {
        timestamp: '2025-01-15T12:00:00Z',
        readings: [
          { type: 'temperature', value: 25.3, unit: '°C' },
          { type: 'humidity', value: 80.1 },
          { type: 'temperature', value: 25.4, timestamp: '2025-01-15T12:00:01Z' },
        ],
      };
      expect(route(open, 'things/weatherstation/ws-001/data', list)).toEqual({
        kind: 'message',
        message: {
          kind: 'data',
          ...origin,
          samples: [
            { timestamp: '2025-01-15T12:00:00.000Z', values: { temperature: 25.3, humidity: 80.1 } },
            { timestamp: '2025-01-15T12:00:01.000Z', values: { temperature: 25.4 } },
          ],
        },
      });
    });

    it('reads a batch as several samples, each with its own timestamp or the shared one', () => {
      const batch = {
        timestamp: '2025-01-15T11:59:00Z',
        readings: [
          { temperature: 25.1, timestamp: '2025-01-15T11:58:00Z' },
          { temperature: 25.2, humidity: 79 },
        ],
      };
      expect(route(open, 'things/weatherstation/ws-001/data', batch)).toEqual({
        kind: 'message',
        message: {
          kind: 'data',
          ...origin,
          samples: [
            { timestamp: '2025-01-15T11:58:00.000Z', values: { temperature: 25.1 } },
            { timestamp: '2025-01-15T11:59:00.000Z', values: { temperature: 25.2, humidity: 79 } },
          ],
        },
      });
    });

    it('takes any JSON values for an undeclared type', () => {
      const result = route(open, 'things/gadget/g-1/data', { mode: 'eco', on: true, pos: { x: 1 } });
      expect(result).toMatchObject({
        kind: 'message',
        message: { samples: [{ values: { mode: 'eco', on: true, pos: { x: 1 } } }] },
      });
    });

    it.each([
      [{ timestamp: '2025-01-15T12:00:00Z' }, 'payload: holds no readings'],
      [{}, 'payload: holds no readings'],
      [{ ['x'.repeat(129)]: 1 }, `${'x'.repeat(129)}: a reading name is 1 to 128 characters`],
      [
        { readings: [{ '': 1, timestamp: '2025-01-15T12:00:00Z' }] },
        'readings[0].: a reading name is 1 to 128 characters',
      ],
      [{ readings: [] }, 'readings: must be a non-empty array'],
      [{ readings: {} }, 'readings: must be a non-empty array'],
      [{ readings: [1, 2] }, 'readings: every item must be an object'],
      [
        { readings: [{ type: 'a', value: 1 }], battery: 3 },
        'battery: next to readings only timestamp and message_id are allowed',
      ],
      [
        { readings: [{ type: 'a', value: 1 }, { a: 2 }] },
        'readings[1]: a list of {type, value} items and a batch of samples cannot be mixed',
      ],
      [
        { readings: [{ type: 'a', value: 1, colour: 'red' }] },
        'readings[0].colour: a list item has type, value, unit, timestamp',
      ],
      [{ readings: [{ type: '', value: 1 }] }, 'readings[0].type: a reading name is 1 to 128 characters'],
      [{ temperature: 1, timestamp: 'yesterday' }, 'timestamp: must be an ISO 8601 date-time string'],
      [{ temperature: 1, timestamp: 1736942400 }, 'timestamp: must be an ISO 8601 date-time string'],
      [{ readings: [{ a: 1, timestamp: 'x' }] }, 'readings[0].timestamp: must be an ISO 8601 date-time string'],
      [{ readings: [{ timestamp: '2025-01-15T12:00:00Z' }] }, 'readings[0]: holds no readings'],
    ])('refuses the malformed data %j as a schema violation', (payload, detail) => {
      expect(route(open, 'things/weatherstation/ws-001/data', payload)).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail,
      });
    });

    // Issue #18, item 5: such names were acknowledged, then dropped with a TypeError in the registry.
    it('takes readings named like Object.prototype members in every shape', () => {
      const names = ['constructor', 'toString', 'valueOf', '__proto__'];
      const flat = `{${names.map((n, i) => `"${n}": ${i}`).join(', ')}}`;
      const expected = JSON.parse(flat) as Record<string, unknown>;
      const stamped = `{"timestamp": "2025-01-15T12:00:00Z", ${flat.slice(1)}`;
      const list = `{"readings": [${names.map((n, i) => `{"type": "${n}", "value": ${i}}`).join(', ')}]}`;
      for (const payload of [flat, stamped, list, `{"readings": [${flat}]}`]) {
        const result = route(open, 'things/weatherstation/ws-001/data', Buffer.from(payload));
        const { samples } = (result as { message: { samples: { values: Record<string, unknown> }[] } }).message;
        expect(samples).toHaveLength(1);
        expect(Object.keys(samples[0].values)).toEqual(names);
        expect(JSON.parse(JSON.stringify(samples[0].values))).toEqual(expected);
      }
    });

    it('validates readings against a declared type: wrong types, out of range, undeclared readings', () => {
      expect(route(declared, 'things/weatherstation/ws-001/data', { temperature: 900 })).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'temperature: 900 is outside [-40, 85]',
      });
      expect(route(declared, 'things/weatherstation/ws-001/data', { temperature: 'hot', pressure: 1013 })).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'temperature: "hot" is not a number; pressure: not a declared reading of weatherstation',
      });
      expect(
        route(declared, 'things/weatherstation/ws-001/data', { readings: [{ temperature: 20 }, { temperature: -41 }] }),
      ).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'readings[1].temperature: -41 is outside [-40, 85]',
      });
      expect(
        route(declared, 'things/weatherstation/ws-001/data', { readings: [{ type: 'humidity', value: true }] }),
      ).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'humidity: true is not a number',
      });
      expect(route(declared, 'things/weatherstation/ws-001/data', { temperature: 20, humidity: 50 })).toMatchObject({
        kind: 'message',
      });
    });
  });

  describe('status', () => {
    it('reads status, battery, firmware, timestamp and passes other fields on', () => {
      expect(
        route(open, 'things/weatherstation/ws-001/status', {
          status: 'low_battery',
          battery_level: 5.5,
          firmware_version: '2.1.0',
          timestamp: '2025-01-15T12:00:00Z',
          rssi: -70,
        }),
      ).toEqual({
        kind: 'message',
        message: {
          kind: 'status',
          ...origin,
          status: 'low_battery',
          batteryLevel: 5.5,
          firmwareVersion: '2.1.0',
          timestamp: '2025-01-15T12:00:00.000Z',
          extra: { rssi: -70 },
        },
      });
    });

    it.each(['online', 'offline', 'error', 'maintenance', 'low_battery', 'provisioning'])(
      'accepts status %s',
      (status) => {
        expect(route(open, 'things/weatherstation/ws-001/status', { status })).toEqual({
          kind: 'message',
          message: { kind: 'status', ...origin, status, extra: {} },
        });
      },
    );

    it.each([
      [{}, 'status: must be one of online, offline, error, maintenance, low_battery, provisioning'],
      [{ status: 'sleeping' }, 'status: must be one of online, offline, error, maintenance, low_battery, provisioning'],
      [{ status: 'online', battery_level: 101 }, 'battery_level: must be a number from 0 to 100'],
      [{ status: 'online', battery_level: '85' }, 'battery_level: must be a number from 0 to 100'],
      [{ status: 'online', firmware_version: 2 }, 'firmware_version: must be a string of at most 64 characters'],
      [{ status: 'online', timestamp: 'soon' }, 'timestamp: must be an ISO 8601 date-time string'],
    ])('refuses the status %j', (payload, detail) => {
      expect(route(open, 'things/weatherstation/ws-001/status', payload)).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail,
      });
    });
  });

  describe('cmd/response', () => {
    it('reads a result or an error', () => {
      expect(
        route(open, 'things/weatherstation/ws-001/cmd/response', { request_id: 'r1', result: { ok: true } }),
      ).toEqual({
        kind: 'message',
        message: { kind: 'command_response', ...origin, requestId: 'r1', result: { ok: true } },
      });
      expect(route(open, 'things/weatherstation/ws-001/cmd/response', { request_id: 'r2', error: 'busy' })).toEqual({
        kind: 'message',
        message: { kind: 'command_response', ...origin, requestId: 'r2', error: 'busy' },
      });
      expect(route(open, 'things/weatherstation/ws-001/cmd/response', { request_id: 'r3', result: null })).toEqual({
        kind: 'message',
        message: { kind: 'command_response', ...origin, requestId: 'r3', result: null },
      });
    });

    it.each([
      [{ result: 1 }, 'request_id: must be a string of 1 to 128 characters'],
      [{ request_id: 7, result: 1 }, 'request_id: must be a string of 1 to 128 characters'],
      [{ request_id: 'r' }, 'must carry exactly one of result and error'],
      [{ request_id: 'r', result: 1, error: 'x' }, 'must carry exactly one of result and error'],
      [{ request_id: 'r', error: { code: 1 } }, 'error: must be a string'],
    ])('refuses the response %j', (payload, detail) => {
      expect(route(open, 'things/weatherstation/ws-001/cmd/response', payload)).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail,
      });
    });
  });

  describe('message_id (issue #11)', () => {
    const id = 'a7f3-0001';
    it('takes message_id from every payload shape, never as a reading or a status field', () => {
      const data = (payload: unknown) => route(open, 'things/weatherstation/ws-001/data', payload);
      expect(data({ temperature: 25.3, message_id: id })).toEqual({
        kind: 'message',
        message: { kind: 'data', ...origin, messageId: id, samples: [{ values: { temperature: 25.3 } }] },
      });
      expect(data({ message_id: id, readings: [{ type: 'temperature', value: 25.3 }] })).toEqual({
        kind: 'message',
        message: { kind: 'data', ...origin, messageId: id, samples: [{ values: { temperature: 25.3 } }] },
      });
      expect(data({ message_id: id, readings: [{ temperature: 1 }, { temperature: 2 }] })).toEqual({
        kind: 'message',
        message: {
          kind: 'data',
          ...origin,
          messageId: id,
          samples: [{ values: { temperature: 1 } }, { values: { temperature: 2 } }],
        },
      });
      expect(route(open, 'things/weatherstation/ws-001/status', { status: 'online', message_id: id, x: 1 })).toEqual({
        kind: 'message',
        message: { kind: 'status', ...origin, messageId: id, status: 'online', extra: { x: 1 } },
      });
      expect(
        route(open, 'things/weatherstation/ws-001/cmd/response', { request_id: 'r', result: 1, message_id: id }),
      ).toEqual({
        kind: 'message',
        message: { kind: 'command_response', ...origin, messageId: id, requestId: 'r', result: 1 },
      });
    });

    it.each([
      [{ temperature: 1, message_id: 17 }, 'data'],
      [{ temperature: 1, message_id: '' }, 'data'],
      [{ temperature: 1, message_id: 'x'.repeat(129) }, 'data'],
      [{ readings: [{ temperature: 1 }], message_id: null }, 'data'],
      [{ status: 'online', message_id: ['m'] }, 'status'],
      [{ request_id: 'r', result: 1, message_id: { id: 1 } }, 'cmd/response'],
    ])('refuses the message_id of %j', (payload, kind) => {
      expect(route(open, `things/weatherstation/ws-001/${kind}`, payload)).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'message_id: must be a string of 1 to 128 characters',
      });
    });

    it('refuses a flat payload that holds only a message_id', () => {
      expect(route(open, 'things/weatherstation/ws-001/data', { message_id: id })).toEqual({
        kind: 'rejected',
        reason: 'schema_violation',
        detail: 'payload: holds no readings',
      });
    });
  });

  it('ignores the server-to-device cmd topic', () => {
    expect(route(open, 'things/weatherstation/ws-001/cmd', { command: 'reboot' })).toEqual({ kind: 'ignored' });
  });

  describe('rejects', () => {
    it.each([
      'things',
      'things/weatherstation',
      'things/weatherstation/ws-001',
      'things/weatherstation/ws-001/telemetry',
      'things/weatherstation/ws-001/data/extra',
      'things/weatherstation/ws-001/cmd/request',
      'things//ws-001/data',
      'things/weatherstation/ /data',
      'other/weatherstation/ws-001/data',
    ])('refuses the malformed topic %s', (topic) => {
      expect(route(open, topic, { temperature: 1 })).toEqual({
        kind: 'rejected',
        reason: 'malformed_topic',
        detail: 'expected things/{device_type}/{device_id}/data, /status or /cmd/response',
      });
    });

    it('refuses a payload over MAX_MESSAGE_SIZE', () => {
      const payload = Buffer.from(JSON.stringify({ blob: 'x'.repeat(300) }));
      expect(route(open, 'things/weatherstation/ws-001/data', payload)).toEqual({
        kind: 'rejected',
        reason: 'oversized',
        detail: `${payload.length} bytes is over MAX_MESSAGE_SIZE (256)`,
      });
    });

    it('refuses JSON nested deeper than MAX_JSON_DEPTH or with more than MAX_JSON_KEYS keys in an object', () => {
      expect(route(open, 'things/weatherstation/ws-001/data', { a: [[[[1]]]] })).toEqual({
        kind: 'rejected',
        reason: 'too_deep',
        detail: 'JSON nests deeper than 4 levels (MAX_JSON_DEPTH)',
      });
      expect(route(open, 'things/weatherstation/ws-001/data', Buffer.from('['.repeat(200)))).toMatchObject({
        reason: 'too_deep',
      });
      const nine = Object.fromEntries([...'abcdefghi'].map((name, i) => [name, i]));
      expect(route(open, 'things/weatherstation/ws-001/data', nine)).toEqual({
        kind: 'rejected',
        reason: 'too_many_keys',
        detail: 'a JSON object has more than 8 keys (MAX_JSON_KEYS)',
      });
      const { i: _, ...eight } = nine;
      expect(route(open, 'things/weatherstation/ws-001/data', { ...eight, h: [[[1]]] })).toMatchObject({
        kind: 'message',
      });
    });

    it('refuses a payload that is not JSON', () => {
      const result = route(open, 'things/weatherstation/ws-001/data', Buffer.from('temperature=25'));
      expect(result).toMatchObject({ kind: 'rejected', reason: 'not_json' });
      expect((result as { detail: string }).detail).toMatch(/JSON/);
      expect(route(open, 'things/weatherstation/ws-001/data', Buffer.from([0xff, 0xfe, 0x00]))).toMatchObject({
        reason: 'not_json',
      });
    });

    it.each([
      ['[1,2]', 'an array'],
      ['42', 'a number'],
      ['"hi"', 'a string'],
      ['null', 'null'],
      ['true', 'a boolean'],
    ])('refuses the JSON %s that is not an object', (text, got) => {
      expect(route(open, 'things/weatherstation/ws-001/status', Buffer.from(text))).toEqual({
        kind: 'rejected',
        reason: 'not_object',
        detail: `expected a JSON object, got ${got}`,
      });
    });

    it('refuses an undeclared type when undeclared types are refused, on every kind', () => {
      for (const kind of ['data', 'status', 'cmd/response']) {
        expect(route(declared, `things/toaster/t-1/${kind}`, { status: 'online' })).toEqual({
          kind: 'rejected',
          reason: 'undeclared_type',
          detail: 'device type toaster is not declared and undeclared types are refused',
        });
      }
    });
  });
});
