import type { DeviceEvent } from '../bus/device-event';
import { encodedEvent } from '../bus/device-event';
import { ndjsonFormat, negotiateFormat, sseFormat } from './stream-format';

const event: DeviceEvent = {
  id: '7',
  event: 'status',
  device_type: 'pump',
  device_id: 'p-1',
  data: { old_status: 'offline', new_status: 'online' },
  timestamp: '2025-01-15T12:00:00.000Z',
  received_at: '2025-01-15T12:00:00.001Z',
};

describe('stream formats', () => {
  it('chooses NDJSON for application/x-ndjson or application/json, SSE otherwise', () => {
    expect(negotiateFormat(undefined)).toBe(sseFormat);
    expect(negotiateFormat('*/*')).toBe(sseFormat);
    expect(negotiateFormat('text/event-stream')).toBe(sseFormat);
    expect(negotiateFormat('application/x-ndjson')).toBe(ndjsonFormat);
    expect(negotiateFormat('application/json; charset=utf-8, */*;q=0.1')).toBe(ndjsonFormat);
    expect(negotiateFormat('text/event-stream, application/json')).toBe(sseFormat);
  });

  it('frames an SSE event with its id and name, once per event', () => {
    const frame = sseFormat.event(encodedEvent(event));
    expect(frame.toString()).toBe(`id: 7\nevent: status\ndata: ${JSON.stringify(event)}\n\n`);
    expect(sseFormat.event(encodedEvent(event))).toBe(frame);
  });

  it("frames NDJSON lines in Disruptive Technologies' shape: the whole event in result.event, its name as eventType", () => {
    expect(JSON.parse(ndjsonFormat.event(encodedEvent(event)).toString())).toEqual({
      result: { event: { ...event, eventType: 'status' } },
    });
    expect(ndjsonFormat.event(encodedEvent(event))).toBe(ndjsonFormat.event(encodedEvent(event)));
    expect(JSON.parse(ndjsonFormat.connected('iot_pump'))).toEqual({
      result: { event: { eventType: 'connected', group: 'iot_pump' } },
    });
    expect(JSON.parse(ndjsonFormat.keepalive())).toEqual({ result: { event: { eventType: 'ping' } } });
    expect(ndjsonFormat.keepalive().endsWith('}\n')).toBe(true);
  });

  it('says reset and last words the same way in both formats', () => {
    const sseReset = sseFormat.reset('3', '90');
    expect(sseReset.startsWith('id: 90\nevent: reset\ndata: ')).toBe(true);
    const resetBody = { event: 'reset', reset: true, requested: '3', last_event_id: '90' };
    expect(JSON.parse(sseReset.split('data: ')[1])).toEqual(resetBody);
    expect(JSON.parse(ndjsonFormat.reset('3', '90'))).toEqual({
      result: { event: { ...resetBody, eventType: 'reset' } },
    });
    const end = sseFormat.end('slow_consumer', '12');
    expect(end.startsWith('event: slow_consumer\ndata: ')).toBe(true);
    expect(JSON.parse(end.split('data: ')[1])).toMatchObject({ error: 'slow_consumer', last_event_id: '12' });
    // No `result`: DT's client treats such a line as the end of the stream and reconnects.
    expect(JSON.parse(ndjsonFormat.end('token_expired', undefined))).toMatchObject({
      error: { event: 'token_expired', error: 'token_expired', last_event_id: null },
    });
  });
});
