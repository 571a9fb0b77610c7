import { subscribeRequest, subscriptionKey } from './socketio-frames';

describe('socket.io subscribe payloads', () => {
  it('reads device_type, device_id, last_event_id (string or number) and event_types (string or list)', () => {
    expect(
      subscribeRequest({ device_type: 'pump', device_id: 'p-1', last_event_id: 41, event_types: ['data', 'status'] }),
    ).toEqual({
      deviceType: 'pump',
      deviceId: 'p-1',
      lastEventId: '41',
      eventTypes: 'data,status',
      problems: {},
    });
    expect(subscribeRequest({ device_type: '_all', event_types: 'status' })).toMatchObject({
      eventTypes: 'status',
      problems: {},
    });
  });

  it('names what is wrong with the shape', () => {
    expect(subscribeRequest('pump').problems).toEqual({ payload: expect.any(String) });
    expect(subscribeRequest({ device_id: 3, event_types: [1] }).problems).toEqual({
      device_type: 'is required',
      device_id: 'must be a string',
      event_types: 'must be a list of event names',
    });
  });

  it('keys a subscription by its device selection', () => {
    expect(subscriptionKey({ deviceType: 'pump' })).toBe('pump/');
    expect(subscriptionKey({ deviceType: 'pump', deviceId: 'p-1' })).toBe('pump/p-1');
  });
});
