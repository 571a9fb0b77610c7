import { Subject, filter } from 'rxjs';
import type { ClientClaims } from '../auth/token.service';
import type { DeviceEvent, EventFilter, NewEvent } from '../bus/device-event';
import { matchesFilter } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import { DomainError } from '../common/domain-error';
import type { AppConfig } from '../config/app-config';
import { DeviceTypes } from '../config/device-types';
import { MqttCommandsService } from '../mqtt/mqtt-commands.service';
import type { MqttTransport } from '../mqtt/mqtt-transport';
import { OutboundCommands } from './outbound-commands';
import type { CommandSender } from './commands.service';
import { CommandsService, InvalidCommandError } from './commands.service';
import type { DeviceRegistryService } from './device-registry.service';
import type { DevicesRepository } from './devices.repository';
import { DevicesService } from './devices.service';

/** A bus whose log is an array: `publishOne` commits at once and delivers live. */
class FakeBus {
  readonly published: NewEvent[] = [];
  private readonly events = new Subject<DeviceEvent>();
  private id = 0;
  live(f: EventFilter): Subject<DeviceEvent> {
    return this.events.pipe(filter((e) => matchesFilter(e, f))) as unknown as Subject<DeviceEvent>;
  }
  publishOne(e: NewEvent): Promise<DeviceEvent> {
    this.published.push(e);
    const event = { id: String(++this.id), ...e };
    this.events.next(event);
    return Promise.resolve(event);
  }
  respond(deviceId: string, data: Record<string, unknown>): void {
    void this.publishOne({
      event: 'command_response',
      device_type: 'thermostat',
      device_id: deviceId,
      data,
      timestamp: '',
      received_at: '',
    });
  }
}

const deviceTypes = DeviceTypes.parse(
  JSON.stringify({
    types: {
      thermostat: {
        commands: {
          set_interval: {
            payload: { interval: { type: 'integer', range: [1, 3600] }, reason: { type: 'string', required: false } },
          },
        },
      },
    },
  }),
);

function setup(onPublish: (topic: string, payload: string) => void = () => undefined) {
  const bus = new FakeBus();
  const mqttPublished: [string, string, number][] = [];
  const mqtt = {
    publish: jest.fn((topic: string, payload: string, qos: number) => {
      mqttPublished.push([topic, payload, qos]);
      onPublish(topic, payload);
      return Promise.resolve();
    }),
  };
  const known = new Set(['t1', 't2']);
  const lookup = (type: string, id: string) =>
    type === 'thermostat' && known.has(id) ? { deviceType: type, deviceId: id } : undefined;
  const registry = { get: lookup, current: lookup };
  const config = { mqtt: { topicPrefix: 'things' } } as AppConfig;
  const devices = new DevicesService(registry as unknown as DeviceRegistryService, {} as DevicesRepository, config);
  // Commands leave through the port the MQTT module publishes from, as in the app.
  const outbound = new OutboundCommands();
  new MqttCommandsService(outbound, mqtt as unknown as MqttTransport).onModuleInit();
  const commands = new CommandsService(
    bus as unknown as EventBusService,
    outbound,
    deviceTypes,
    registry as unknown as DeviceRegistryService,
    devices,
  );
  commands.onModuleInit();
  return { bus, mqtt, mqttPublished, commands };
}

async function failure(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

const client = (channels: string[], permissions: ClientClaims['permissions'] = ['publish']): CommandSender => ({
  kind: 'client',
  claims: { sub: 'c', exp: 0, channels, permissions },
});

describe('CommandsService', () => {
  afterEach(() => jest.useRealTimers());

  it('says in the command event who sent it and how long the sender waits (the console command history)', async () => {
    const s = setup();
    await s.commands.send('thermostat', 't1', 'set_interval', { interval: 60 }, undefined, 'signalling');
    expect(s.bus.published[0]).toMatchObject({ data: { source: 'signalling' } });
    expect(s.bus.published[0].data).not.toHaveProperty('timeout');
  });

  it('publishes a command event, then the command on the device cmd topic with QoS 1', async () => {
    const s = setup();
    const outcome = await s.commands.send('thermostat', 't1', 'set_interval', { interval: 60 });
    expect(outcome).toEqual({ kind: 'sent', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(s.bus.published).toEqual([
      expect.objectContaining({
        event: 'command',
        device_type: 'thermostat',
        device_id: 't1',
        data: { request_id: outcome.requestId, command: 'set_interval', payload: { interval: 60 }, source: 'rest' },
      }),
    ]);
    expect(s.mqttPublished).toEqual([
      [
        'things/thermostat/t1/cmd',
        JSON.stringify({ command: 'set_interval', payload: { interval: 60 }, request_id: outcome.requestId }),
        1,
      ],
    ]);
  });

  it('with a timeout answers with the device response, even one that arrives before the publish returns', async () => {
    const s = setup((_topic, payload) => {
      const { request_id } = JSON.parse(payload) as { request_id: string };
      s.bus.respond('t1', { request_id, result: { interval: 60 } });
    });
    const outcome = await s.commands.send('thermostat', 't1', 'set_interval', { interval: 60 }, 5);
    expect(outcome).toEqual({ kind: 'answered', requestId: expect.any(String), answer: { result: { interval: 60 } } });
  });

  it('passes an error answer on as the device sent it, and ignores answers from other devices', async () => {
    let requestId = '';
    const s = setup((_topic, payload) => ({ request_id: requestId } = JSON.parse(payload) as { request_id: string }));
    const pending = s.commands.send('thermostat', 't1', 'set_interval', { interval: 60 }, 5);
    await new Promise((resolve) => setImmediate(resolve));
    s.bus.respond('t2', { request_id: requestId, result: 'forged' });
    s.bus.respond('t1', { request_id: 'someone-else', result: 'other' });
    s.bus.respond('t1', { request_id: requestId, error: 'interval out of range' });
    expect(await pending).toEqual({ kind: 'answered', requestId, answer: { error: 'interval out of range' } });
  });

  it('times out when no answer comes', async () => {
    jest.useFakeTimers();
    const s = setup();
    let outcome: unknown;
    void s.commands.send('thermostat', 't1', 'set_interval', { interval: 60 }, 2).then((o) => (outcome = o));
    await jest.advanceTimersByTimeAsync(1999);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome).toEqual({ kind: 'timeout', requestId: expect.any(String) });
  });

  it('refuses an invalid command with the problems, and an unknown device, publishing nothing', async () => {
    const s = setup();
    const invalid = await failure(s.commands.send('thermostat', 't1', 'set_interval', { interval: 0, colour: 'red' }));
    expect(invalid).toBeInstanceOf(InvalidCommandError);
    expect(invalid).toMatchObject({
      code: 'invalid_command',
      status: 400,
      message: 'interval: 0 is outside [1, 3600]; colour: not a field of command set_interval',
      fields: { 'payload.interval': '0 is outside [1, 3600]', 'payload.colour': 'not a field of command set_interval' },
    });
    const undeclared = await failure(s.commands.send('thermostat', 't1', 'self_destruct', {}));
    expect(undeclared.fields).toEqual({
      command: expect.stringContaining('self_destruct is not declared for thermostat'),
    });
    expect(await failure(s.commands.send('thermostat', 'nobody', 'set_interval', { interval: 1 }))).toMatchObject({
      code: 'unknown_device',
      status: 404,
    });
    expect(s.bus.published).toEqual([]);
    expect(s.mqtt.publish).not.toHaveBeenCalled();
  });

  it('lets the admin and clients with publish on the cmd channel send; others get 404 or 403', async () => {
    const s = setup();
    await expect(
      s.commands.sendAs({ kind: 'admin' }, 'thermostat', 't1', 'set_interval', { interval: 1 }),
    ).resolves.toMatchObject({ kind: 'sent' });
    await expect(
      s.commands.sendAs(client(['things/thermostat/*/**']), 'thermostat', 't1', 'set_interval', { interval: 1 }),
    ).resolves.toMatchObject({ kind: 'sent' });
    // Sees the device but may not publish.
    expect(
      await failure(
        s.commands.sendAs(client(['things/thermostat/t1/**'], ['subscribe']), 'thermostat', 't1', 'set_interval', {
          interval: 1,
        }),
      ),
    ).toMatchObject({ code: 'forbidden', status: 403 });
    expect(
      await failure(
        s.commands.sendAs(client(['things/thermostat/t1/data']), 'thermostat', 't1', 'set_interval', { interval: 1 }),
      ),
    ).toMatchObject({ code: 'forbidden', status: 403 });
    // Does not see the device at all.
    expect(
      await failure(
        s.commands.sendAs(client(['things/thermostat/t2/**']), 'thermostat', 't1', 'set_interval', { interval: 1 }),
      ),
    ).toMatchObject({ code: 'unknown_device', status: 404 });
    expect(s.mqtt.publish).toHaveBeenCalledTimes(2);
  });

  it('answers a broker failure with 503 and stops waiting', async () => {
    const s = setup();
    s.mqtt.publish.mockRejectedValueOnce(new Error('not connected'));
    expect(await failure(s.commands.send('thermostat', 't1', 'set_interval', { interval: 1 }, 5))).toMatchObject({
      code: 'broker_unavailable',
      status: 503,
    });
  });

  it('fails commands still waiting when the service stops', async () => {
    const s = setup();
    const pending = s.commands.send('thermostat', 't1', 'set_interval', { interval: 1 }, 60);
    await new Promise((resolve) => setImmediate(resolve));
    s.commands.onModuleDestroy();
    expect(await failure(pending)).toMatchObject({ code: 'shutting_down', status: 503 });
  });
});
