import type { ClientClaims } from '../auth/token.service';
import type { DeviceEvent } from '../bus/device-event';
import { matchesFilter } from '../bus/device-event';
import { InvalidRequestError } from '../common/domain-error';
import { selectClientEvents } from './client-selection';

const claims = (channels: string[]): ClientClaims => ({ sub: 'c', exp: 2_000_000_000, channels, permissions: [] });
const event = (device_type: string, device_id: string, name = 'data'): DeviceEvent => ({
  id: '1',
  event: name,
  device_type,
  device_id,
  data: {},
  timestamp: '',
  received_at: '',
});

describe('selectClientEvents', () => {
  it('selects by type, device, event types, and the token channels claim', () => {
    const selection = selectClientEvents(
      { deviceType: '_all', eventTypes: 'data,status' },
      claims(['things/pump/**', 'things/fan/f-1/*']),
      'things',
    );
    expect(selection.group).toBe('iot__all');
    expect(selection.expiresAtMs).toBe(2_000_000_000_000);
    const allowed = (e: DeviceEvent): boolean => matchesFilter(e, selection.filter);
    expect(allowed(event('pump', 'p-1'))).toBe(true);
    expect(allowed(event('fan', 'f-1', 'status'))).toBe(true);
    expect(allowed(event('fan', 'f-2'))).toBe(false);
    expect(allowed(event('pump', 'p-1', 'command'))).toBe(false);
  });

  it("takes a repeated event_types parameter (DT's client sends lists that way) like a comma-separated one", () => {
    const selection = selectClientEvents(
      { deviceType: 'pump', eventTypes: ['data', 'status,command'] },
      undefined,
      'things',
    );
    expect(selection.filter.eventTypes).toEqual(['data', 'status', 'command']);
  });

  it('puts no per-event test in the filter for a ** token', () => {
    const selection = selectClientEvents({ deviceType: 'pump', deviceId: 'p-1' }, claims(['**']), 'things');
    expect(selection.filter).toEqual({ deviceType: 'pump', deviceId: 'p-1' });
    expect(selection.group).toBe('iot_pump_p-1');
  });

  it('names every bad parameter in one error, with the transport’s own names and problems', () => {
    let error: InvalidRequestError | undefined;
    try {
      selectClientEvents(
        {
          deviceType: 'a/b',
          deviceId: 'x y',
          eventTypes: 'data,,',
          lastEventId: '-1',
          pingInterval: '0.5s',
          positionParam: 'cursor',
          problems: { limit: 'too big' },
        },
        undefined,
        'things',
      );
    } catch (err) {
      error = err as InvalidRequestError;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(Object.keys(error?.fields ?? {}).sort()).toEqual([
      'cursor',
      'device_id',
      'device_type',
      'event_types',
      'limit',
      'ping_interval',
    ]);
  });

  it('takes ping_interval as a duration', () => {
    expect(selectClientEvents({ deviceType: 'x', pingInterval: '10s' }, undefined, 't').pingIntervalMs).toBe(10_000);
    expect(selectClientEvents({ deviceType: 'x', pingInterval: '2' }, undefined, 't').pingIntervalMs).toBe(2000);
  });
});
