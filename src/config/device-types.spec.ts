import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceTypes, DeviceTypesError } from './device-types';

const YAML = `
accept_undeclared: false
types:
  weatherstation:
    heartbeat_interval: 60
    readings:
      temperature: {type: number, unit: "°C", range: [-40, 85]}
      samples: {type: integer, range: [0, 10]}
      door_open: {type: boolean}
      label: {type: string}
    commands:
      set_interval:
        payload:
          interval: {type: integer, range: [1, 3600]}
          reason: {type: string, required: false}
      reboot: {}
  camera: {}
`;

function problemsOf(text: string): string[] {
  try {
    DeviceTypes.parse(text, 'types.yaml');
  } catch (err) {
    if (err instanceof DeviceTypesError) return err.problems;
    throw err;
  }
  throw new Error('expected the file to be refused');
}

describe('DeviceTypes', () => {
  describe('without a file', () => {
    const types = DeviceTypes.load(undefined);

    it('accepts every type with any readings and commands and the 300 s heartbeat', () => {
      expect(types.acceptUndeclared).toBe(true);
      expect(types.isAccepted('anything')).toBe(true);
      expect(types.get('anything')).toBeUndefined();
      expect(types.heartbeatMs('anything')).toBe(300_000);
      expect(types.validateReadings('anything', { x: { nested: true }, y: 'text' })).toEqual([]);
      expect(types.validateCommand('anything', 'whatever', { a: 1 })).toEqual([]);
    });
  });

  describe('from YAML', () => {
    const types = DeviceTypes.parse(YAML);

    it('reads the declarations into the documented shape', () => {
      expect(types.acceptUndeclared).toBe(false);
      expect(types.get('weatherstation')).toEqual({
        heartbeatIntervalSec: 60,
        readings: {
          temperature: { type: 'number', unit: '°C', range: [-40, 85] },
          samples: { type: 'integer', range: [0, 10] },
          door_open: { type: 'boolean' },
          label: { type: 'string' },
        },
        commands: {
          set_interval: {
            payload: {
              interval: { type: 'integer', range: [1, 3600], required: true },
              reason: { type: 'string', required: false },
            },
          },
          reboot: { payload: {} },
        },
      });
      expect(types.get('camera')).toEqual({ heartbeatIntervalSec: 300, readings: {}, commands: {} });
    });

    it('uses the declared heartbeat, else 300 s', () => {
      expect(types.heartbeatMs('weatherstation')).toBe(60_000);
      expect(types.heartbeatMs('camera')).toBe(300_000);
    });

    it('refuses undeclared types when accept_undeclared is false', () => {
      expect(types.isAccepted('weatherstation')).toBe(true);
      expect(types.isAccepted('toaster')).toBe(false);
      expect(types.validateReadings('toaster', { a: 1 })).toEqual(['device type toaster is not declared']);
      expect(types.validateCommand('toaster', 'x', {})).toEqual(['device type toaster is not declared']);
    });

    it('accepts readings that match their declarations, range bounds included', () => {
      expect(
        types.validateReadings('weatherstation', { temperature: 85, samples: 0, door_open: false, label: 'x' }),
      ).toEqual([]);
      expect(types.validateReadings('weatherstation', { temperature: -40 })).toEqual([]);
    });

    it('names each wrong type, out-of-range value and undeclared reading', () => {
      expect(
        types.validateReadings('weatherstation', {
          temperature: 900,
          samples: 2.5,
          door_open: 'yes',
          label: 7,
          humidty: 40,
        }),
      ).toEqual([
        'temperature: 900 is outside [-40, 85]',
        'samples: 2.5 is not an integer',
        'door_open: "yes" is not a boolean',
        'label: 7 is not a string',
        'humidty: not a declared reading of weatherstation',
      ]);
      expect(types.validateReadings('weatherstation', { temperature: '25' })).toEqual([
        'temperature: "25" is not a number',
      ]);
      expect(types.validateReadings('weatherstation', { temperature: null })).toEqual([
        'temperature: null is not a number',
      ]);
    });

    it('checks commands against their payload schema', () => {
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 60 })).toEqual([]);
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 60, reason: 'test' })).toEqual([]);
      expect(types.validateCommand('weatherstation', 'reboot', {})).toEqual([]);
      expect(types.validateCommand('weatherstation', 'set_interval', {})).toEqual([
        'interval: required by command set_interval',
      ]);
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 0, extra: 1 })).toEqual([
        'interval: 0 is outside [1, 3600]',
        'extra: not a field of command set_interval',
      ]);
      expect(types.validateCommand('weatherstation', 'set_interval', [1])).toEqual(['payload: must be a JSON object']);
      expect(types.validateCommand('weatherstation', 'selfdestruct', {})).toEqual([
        'command selfdestruct is not declared for weatherstation (declared: set_interval, reboot)',
      ]);
      expect(types.validateCommand('camera', 'reboot', {})).toEqual([
        'command reboot is not declared for camera (it declares no commands)',
      ]);
    });

    // Issue #18, item 5: names from the wire find nothing inherited from Object.prototype.
    it.each(['constructor', 'toString', 'valueOf', '__proto__'])('knows %s for a name like any other', (name) => {
      const values = JSON.parse(`{"${name}": 1}`) as Record<string, unknown>;
      expect(types.validateReadings('weatherstation', values)).toEqual([
        `${name}: not a declared reading of weatherstation`,
      ]);
      expect(types.validateCommand('weatherstation', name, {})).toEqual([
        `command ${name} is not declared for weatherstation (declared: set_interval, reboot)`,
      ]);
      expect(types.validateCommand('weatherstation', 'reboot', values)).toEqual([
        `${name}: not a field of command reboot`,
      ]);
      const declaring = DeviceTypes.parse(
        `{"types": {"t": {"readings": {"${name}": {"type": "number"}}, "commands": {"${name}": {}}}}}`,
      );
      expect(declaring.validateReadings('t', values)).toEqual([]);
      expect(declaring.validateReadings('t', JSON.parse(`{"${name}": "x"}`) as Record<string, unknown>)).toEqual([
        `${name}: "x" is not a number`,
      ]);
      expect(declaring.validateCommand('t', name, {})).toEqual([]);
    });
  });

  it('reads JSON, and accept_undeclared defaults to true when the file omits it', () => {
    const types = DeviceTypes.parse(
      JSON.stringify({ types: { sensor: { readings: { level: { type: 'number', range: [0, 1] } } } } }),
    );
    expect(types.acceptUndeclared).toBe(true);
    expect(types.isAccepted('other')).toBe(true);
    expect(types.validateReadings('sensor', { level: 2 })).toEqual(['level: 2 is outside [0, 1]']);
  });

  it('loads a file by path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dhb-types-'));
    try {
      const file = join(dir, 'types.yml');
      writeFileSync(file, YAML);
      expect(DeviceTypes.load(file).heartbeatMs('weatherstation')).toBe(60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("Django DeviceHub's declarations", () => {
    // A DeviceHub WeatherStation class, written out as a file (README, "Device types from Django DeviceHub").
    const DEVICEHUB = `
types:
  weatherstation:
    protocol: MQTT
    broker: default
    auth: token
    topic_template: "{prefix}/{type_name}/{device_id}/{message_type}"
    heartbeat_interval: 120
    readings:
      temperature: {type: FLOAT, unit: C, range: [-40, 80]}
      count: {type: Integer}
      door_open: {type: BOOLEAN}
      label: {type: STRING}
      rssi: int
      ok: bool
      note: str
      level: float
    commands:
      reboot: {}
      set_interval:
        payload: {interval: int, reason: {type: str, required: false}}
`;
    const types = DeviceTypes.parse(DEVICEHUB);

    it('reads its type names in any case, and bare type names, as ours', () => {
      expect(types.get('weatherstation')?.readings).toEqual({
        temperature: { type: 'number', unit: 'C', range: [-40, 80] },
        count: { type: 'integer' },
        door_open: { type: 'boolean' },
        label: { type: 'string' },
        rssi: { type: 'integer' },
        ok: { type: 'boolean' },
        note: { type: 'string' },
        level: { type: 'number' },
      });
      expect(types.validateReadings('weatherstation', { temperature: 21.5, count: 3, door_open: false })).toEqual([]);
      expect(types.validateReadings('weatherstation', { count: 2.5, ok: 'yes', temperature: 81 })).toEqual([
        'count: 2.5 is not an integer',
        'ok: "yes" is not a boolean',
        'temperature: 81 is outside [-40, 80]',
      ]);
    });

    it('maps heartbeat_interval onto the offline timeout and takes the Meta options it serves', () => {
      expect(types.heartbeatMs('weatherstation')).toBe(120_000);
    });

    it('validates a command payload declared as {"interval": int}: wrong type, missing, unknown', () => {
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 60 })).toEqual([]);
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: '60' })).toEqual([
        'interval: "60" is not a number',
      ]);
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 1.5 })).toEqual([
        'interval: 1.5 is not an integer',
      ]);
      expect(types.validateCommand('weatherstation', 'set_interval', {})).toEqual([
        'interval: required by command set_interval',
      ]);
      expect(types.validateCommand('weatherstation', 'set_interval', { interval: 5, every: 5 })).toEqual([
        'every: not a field of command set_interval',
      ]);
      expect(types.validateCommand('weatherstation', 'reboot', {})).toEqual([]);
    });

    it('refuses another protocol, broker or auth, and a type it does not know, naming each', () => {
      expect(
        problemsOf(`
types:
  node:
    protocol: http
    broker: lora
    auth: none
    readings: {v: decimal, w: {type: 3}}
`),
      ).toEqual([
        'types.node.protocol: only "mqtt" is served (devices reach the bridge over MQTT only)',
        'types.node.broker: only "default" is served (the bridge uses one broker: MQTT_URL, or its embedded broker)',
        'types.node.auth: only "token" is served (devices authenticate with the credentials the admin API mints (DEVICE_AUTH))',
        'types.node.readings.v.type: must be one of number, integer, boolean, string or DeviceHub\'s FLOAT, INTEGER, BOOLEAN, STRING, float, int, bool, str, any case (got "decimal")',
        "types.node.readings.w.type: must be one of number, integer, boolean, string or DeviceHub's FLOAT, INTEGER, BOOLEAN, STRING, float, int, bool, str, any case (got 3)",
      ]);
    });
  });

  describe('a malformed file', () => {
    it('is refused with one message naming every problem and the file', () => {
      const text = `
accept_undeclard: false
accept_undeclared: "no"
types:
  "bad/name": {}
  weatherstation:
    heartbeat_interval: -5
    colour: red
    protocol: coap
    topic_template: "{device_id}/{type_name}"
    readings:
      temperature: {type: double}
      humidity: {type: number, range: [100, 0]}
      label: {type: string, range: [0, 1]}
      level: 5
    commands:
      set_interval:
        payload:
          interval: {type: integer, required: "yes"}
`;
      let error: unknown;
      try {
        DeviceTypes.parse(text, '/etc/devicehub/types.yaml');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(DeviceTypesError);
      const message = (error as Error).message;
      expect(message.split('\n')[0]).toBe('Invalid device types in /etc/devicehub/types.yaml:');
      expect((error as DeviceTypesError).problems).toEqual([
        'accept_undeclard: unknown key (expected types, accept_undeclared)',
        'accept_undeclared: must be true or false',
        'types.bad/name: a device type name is 1 to 128 characters without /, +, # or whitespace',
        'types.weatherstation.colour: unknown key (expected heartbeat_interval, readings, commands, protocol, broker, auth, topic_template)',
        'types.weatherstation.protocol: only "mqtt" is served (devices reach the bridge over MQTT only)',
        'types.weatherstation.topic_template: only "{prefix}/{type_name}/{device_id}/{message_type}" is served (topics are always {prefix}/{type}/{id}/{kind}, with TOPIC_PREFIX as the prefix)',
        'types.weatherstation.heartbeat_interval: must be a positive number of seconds',
        'types.weatherstation.readings.temperature.type: must be one of number, integer, boolean, string or DeviceHub\'s FLOAT, INTEGER, BOOLEAN, STRING, float, int, bool, str, any case (got "double")',
        'types.weatherstation.readings.humidity.range: must be [min, max] with min <= max',
        'types.weatherstation.readings.label.range: only number and integer readings have a range',
        'types.weatherstation.readings.level: must be a type name or an object with type, unit, range',
        'types.weatherstation.commands.set_interval.payload.interval.required: must be true or false',
      ]);
      for (const p of (error as DeviceTypesError).problems) expect(message).toContain(`  - ${p}`);
    });

    it('reports syntax errors', () => {
      expect(problemsOf('types: {weatherstation: [unclosed')[0]).toMatch(/flow sequence|Missing|unexpected|end/i);
      expect(problemsOf('{"types": {"a": {}}, "types": {}}')[0]).toMatch(/unique|duplicate/i);
    });

    it('refuses a file that is not an object', () => {
      expect(problemsOf('- a\n- b\n')).toEqual([
        'the file must hold an object with "types" and optionally "accept_undeclared"',
      ]);
      expect(problemsOf('types: [1, 2]')).toEqual(['types: must be an object of device types by name']);
    });

    it('names a file that cannot be read', () => {
      expect(() => DeviceTypes.load('/nonexistent/types.yaml')).toThrow(
        /Invalid device types in \/nonexistent\/types.yaml:\n {2}- cannot be read: ENOENT/,
      );
    });
  });
});
