import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDeviceChannels } from './device-channels';
import { ConfigError, loadConfig } from './load-config';

function read(value: unknown): { mappings: unknown; problems: string[] } {
  const problems: string[] = [];
  const mappings = readDeviceChannels(typeof value === 'string' ? value : JSON.stringify(value), 'things', problems);
  return { mappings, problems };
}

describe('SIGNALLING_DEVICE_CHANNELS', () => {
  it('reads templates, and gives a cmd mapping its cmd/response unless one is given', () => {
    expect(
      read({
        'fleet/{id}/telemetry': { type: 'sensor', kind: 'data' },
        'fleet/{id}/cmd': { type: 'sensor', kind: 'cmd' },
      }),
    ).toEqual({
      mappings: [
        { template: 'fleet/{id}/telemetry', type: 'sensor', kind: 'data' },
        { template: 'fleet/{id}/cmd', type: 'sensor', kind: 'cmd' },
        { template: 'fleet/{id}/cmd/response', type: 'sensor', kind: 'cmd/response' },
      ],
      problems: [],
    });
    expect(
      read({ 'a/{type}/{id}/cmd': { kind: 'cmd' }, 'a/{type}/{id}/answers': { kind: 'cmd/response' } }).mappings,
    ).toEqual([
      { template: 'a/{type}/{id}/cmd', kind: 'cmd' },
      { template: 'a/{type}/{id}/answers', kind: 'cmd/response' },
    ]);
  });

  it('reads a YAML file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dhb-channels-')), 'channels.yaml');
    writeFileSync(file, 'fleet/{id}/telemetry: {type: sensor, kind: data}\n');
    expect(read(file).mappings).toEqual([{ template: 'fleet/{id}/telemetry', type: 'sensor', kind: 'data' }]);
  });

  it('names every problem', () => {
    const { mappings, problems } = read({
      'fleet/telemetry': { type: 'sensor', kind: 'data' },
      'things/{id}/x': { type: 'sensor', kind: 'data' },
      'fleet/sensor-{id}/x': { type: 'sensor', kind: 'data' },
      'fleet/*/{id}': { type: 'sensor', kind: 'data' },
      '_system/{id}': { type: 'sensor', kind: 'data' },
      'b/{type}/{id}': { type: 'sensor', kind: 'data' },
      'c/{id}': { type: 'bad type', kind: 'reading', extra: 1 },
      'd/{id}': 'data',
    });
    expect(mappings).toEqual([]);
    expect(problems).toEqual([
      'SIGNALLING_DEVICE_CHANNELS: fleet/telemetry: needs {id} once',
      "SIGNALLING_DEVICE_CHANNELS: things/{id}/x: things/ is the standard layout's (TOPIC_PREFIX), which needs no mapping",
      'SIGNALLING_DEVICE_CHANNELS: fleet/sensor-{id}/x: sensor-{id}: {id} and {type} stand for whole levels, nothing else does',
      'SIGNALLING_DEVICE_CHANNELS: fleet/sensor-{id}/x: needs {id} once',
      'SIGNALLING_DEVICE_CHANNELS: fleet/*/{id}: a template names channels; * and \\ have no place in it',
      'SIGNALLING_DEVICE_CHANNELS: _system/{id}: uses a reserved prefix (_metered/, _internal/, _system/)',
      'SIGNALLING_DEVICE_CHANNELS: b/{type}/{id}: type: the template has {type}; give one or the other',
      'SIGNALLING_DEVICE_CHANNELS: c/{id}: kind: expected one of data, status, cmd, cmd/response',
      'SIGNALLING_DEVICE_CHANNELS: c/{id}: type: expected a device type (1 to 128 characters without /, +, # or whitespace)',
      'SIGNALLING_DEVICE_CHANNELS: c/{id}: unknown field(s) extra',
      'SIGNALLING_DEVICE_CHANNELS: d/{id}: expected {"type": "…", "kind": "data" | "status" | "cmd" | "cmd/response"}',
    ]);
  });

  it('refuses templates that can name the same channel, and documents that do not parse', () => {
    expect(read({ 'f/{id}/x/y': { type: 'a', kind: 'data' }, 'f/{type}/{id}/y': { kind: 'status' } }).problems).toEqual(
      ['SIGNALLING_DEVICE_CHANNELS: f/{id}/x/y and f/{type}/{id}/y can name the same channel; make a level differ'],
    );
    expect(read('{nope').problems[0]).toMatch(/^SIGNALLING_DEVICE_CHANNELS: inline JSON does not parse/);
    expect(read('/no/such/file.yaml').problems).toEqual([
      'SIGNALLING_DEVICE_CHANNELS=/no/such/file.yaml: expected inline JSON or the path of a JSON or YAML file; none is there',
    ]);
  });

  it('is checked at start-up with the other settings, in one message', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dhb-config-'));
    let error: unknown;
    try {
      loadConfig({
        DATA_DIR: dataDir,
        PORT: 'x',
        SIGNALLING_DEVICE_CHANNELS: '{"f/x": {"type": "a", "kind": "data"}}',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^PORT=x/),
      'SIGNALLING_DEVICE_CHANNELS: f/x: needs {id} once',
    ]);
    const config = loadConfig({
      DATA_DIR: dataDir,
      SIGNALLING_DEVICE_CHANNELS: '{"f/{id}": {"type": "a", "kind": "data"}}',
    });
    expect(config.signalling.deviceChannels).toEqual([{ template: 'f/{id}', type: 'a', kind: 'data' }]);
  });
});
