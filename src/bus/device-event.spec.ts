import type { DeviceEvent, NewEvent } from './device-event';
import { PositionedEvent, encodedEvent, eventJson } from './device-event';
import { WireForm } from './encoded-event';

const T = '2025-01-15T12:00:00.000Z';
const fresh = (): NewEvent => ({
  event: 'data',
  device_type: 'ws',
  device_id: 'ws-1',
  data: { temperature: 21.5, note: 'say "hi"\n' },
  timestamp: T,
  received_at: T,
});

describe('eventJson and encodedEvent', () => {
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

  it('is one EncodedEvent per event, which builds each wire form once, on first use', () => {
    const built: string[] = [];
    const framed = new WireForm('test', (e) => {
      built.push(e.event.id);
      return Buffer.from(`<${e.json}>`);
    });
    const positioned = new PositionedEvent('7', fresh());
    const plain: DeviceEvent = { id: '8', ...fresh() };
    for (const event of [positioned, plain]) {
      expect(encodedEvent(event)).toBe(encodedEvent(event));
      expect(encodedEvent(event).event).toBe(event);
      const wire = encodedEvent(event).wire(framed);
      expect(wire.toString()).toBe(`<${JSON.stringify(event)}>`);
      expect(encodedEvent(event).wire(framed)).toBe(wire);
    }
    expect(built).toEqual(['7', '8']);
    expect(encodedEvent({ ...positioned })).not.toBe(encodedEvent(positioned));
  });

  it('says once per transport bit that an event is sent for the first time', () => {
    const encoded = encodedEvent(new PositionedEvent('7', fresh()));
    expect([encoded.firstSendOn(1), encoded.firstSendOn(1), encoded.firstSendOn(2), encoded.firstSendOn(2)]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });
});
