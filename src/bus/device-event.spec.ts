import type { DeviceEvent, NewEvent } from './device-event';
import { PositionedEvent, eventJson } from './device-event';

const T = '2025-01-15T12:00:00.000Z';
const fresh = (): NewEvent => ({
  event: 'data',
  device_type: 'ws',
  device_id: 'ws-1',
  data: { temperature: 21.5, note: 'say "hi"\n' },
  timestamp: T,
  received_at: T,
});

describe('eventJson', () => {
  it('is the JSON of a positioned event, with id first and nothing of the cache in it', () => {
    const event = new PositionedEvent('7', fresh());
    const json = eventJson(event);
    expect(json).toBe(JSON.stringify({ id: '7', ...fresh() }));
    expect(eventJson(event)).toBe(json);
    expect(JSON.stringify(event)).toBe(json);
    // Every instance has the same fields; an absent message_id is undefined, which JSON leaves out.
    expect(Object.keys(event)).toEqual([
      'id',
      'event',
      'device_type',
      'device_id',
      'data',
      'timestamp',
      'received_at',
      'message_id',
    ]);
  });

  it("carries a device message's message_id, last, and nothing of the log's bookkeeping", () => {
    const event = new PositionedEvent('7', { ...fresh(), message_id: 'm-1', opensMessage: true });
    expect(eventJson(event)).toBe(JSON.stringify({ id: '7', ...fresh(), message_id: 'm-1' }));
  });

  it('does not follow a copy: a spread with a changed field has its own JSON', () => {
    const event = new PositionedEvent('7', fresh());
    eventJson(event);
    const copy: DeviceEvent = { ...event, device_id: 'other' };
    expect(JSON.parse(eventJson(copy))).toMatchObject({ id: '7', device_id: 'other' });
    expect(JSON.parse(eventJson(event))).toMatchObject({ device_id: 'ws-1' });
  });

  it('serves plain events too (read back from the log or from Redis), also once', () => {
    const plain: DeviceEvent = { id: '8', ...fresh() };
    const json = eventJson(plain);
    expect(json).toBe(JSON.stringify(plain));
    expect(eventJson(plain)).toBe(json);
    expect(JSON.stringify(plain)).toBe(json);
    expect(JSON.parse(eventJson({ ...plain, id: '9' }))).toMatchObject({ id: '9' });
  });
});
