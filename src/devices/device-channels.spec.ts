import { DeviceChannels } from './device-channels';

describe('DeviceChannels', () => {
  const channels = new DeviceChannels('things', [
    { template: 'fleet/{id}/telemetry', type: 'sensor', kind: 'data' },
    { template: 'fleet/{id}/cmd', type: 'sensor', kind: 'cmd' },
    { template: 'fleet/{id}/cmd/response', type: 'sensor', kind: 'cmd/response' },
    { template: 'plant/{type}/{id}/state', kind: 'status' },
  ]);

  it('routes the standard layout as the MQTT topics', () => {
    expect(channels.route('things/ws/ws-1/data')).toEqual({ deviceType: 'ws', deviceId: 'ws-1', kind: 'data' });
    expect(channels.route('things/ws/ws-1/status')?.kind).toBe('status');
    expect(channels.route('things/ws/ws-1/cmd')?.kind).toBe('cmd');
    expect(channels.route('things/ws/ws-1/cmd/response')?.kind).toBe('cmd/response');
    for (const other of ['things/ws/ws-1', 'things/ws/ws-1/command', 'things/ws/ws-1/cmd/extra', 'other/ws/ws-1/data'])
      expect(channels.route(other)).toBeUndefined();
  });

  it('routes mapped layouts, with a fixed type or a {type} level', () => {
    expect(channels.route('fleet/sensor-42/telemetry')).toEqual({
      deviceType: 'sensor',
      deviceId: 'sensor-42',
      kind: 'data',
    });
    expect(channels.route('fleet/sensor-42/cmd/response')?.kind).toBe('cmd/response');
    expect(channels.route('plant/pump/p-1/state')).toEqual({ deviceType: 'pump', deviceId: 'p-1', kind: 'status' });
    expect(channels.route('fleet/sensor-42/other')).toBeUndefined();
    expect(channels.route('fleet/a/b/telemetry')).toBeUndefined();
  });

  it("names a device's channels of a kind, standard first, and the mapped channels its events are mirrored on", () => {
    expect(channels.channelsOf('sensor', 's-1', 'cmd')).toEqual(['things/sensor/s-1/cmd', 'fleet/s-1/cmd']);
    expect(channels.channelsOf('pump', 'p-1', 'cmd')).toEqual(['things/pump/p-1/cmd']);
    expect(channels.mappedEventChannels('sensor', 's-1', 'data')).toEqual(['fleet/s-1/telemetry']);
    expect(channels.mappedEventChannels('sensor', 's-1', 'command_response')).toEqual(['fleet/s-1/cmd/response']);
    expect(channels.mappedEventChannels('pump', 'p-1', 'status')).toEqual(['plant/pump/p-1/state']);
    expect(channels.mappedEventChannels('sensor', 's-1', 'alert')).toEqual([]);
  });

  it('gives a device token its own channels only, escaping pattern characters of the id', () => {
    expect(channels.deviceClaims('pump', 'p*1')).toEqual([
      'things/pump/p\\*1/data',
      'things/pump/p\\*1/status',
      'plant/pump/p\\*1/state',
      'things/pump/p\\*1/cmd/response',
      'things/pump/p\\*1/cmd',
    ]);
    expect(channels.commandPatterns()).toEqual(['things/*/*/cmd', 'fleet/*/cmd']);
  });
});
