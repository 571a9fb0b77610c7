import mqtt from 'mqtt';
import type { Permission } from '../src/auth/token.service';
import type { Storage, TestApp } from './support/app';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import type { Json, SdkPeer } from './fixtures/signalling/clients';
import { mint, rejection, sdkPeer } from './fixtures/signalling/clients';

interface Command {
  command: string;
  payload: Record<string, unknown>;
  request_id: string;
}

/**
 * Commands from channels (bridge.md, "Signalling mirror"; issue #4): an SDK
 * client publishes `{command, payload}` on `{prefix}/{type}/{id}/cmd`, a real
 * MQTT device gets it on its `cmd` topic, and its answer comes back to
 * signalling subscribers as a `command_response` event.
 */
describe('device commands from signalling channels', () => {
  let storage: Storage;
  let app: TestApp;
  let prefix: string;
  let device: mqtt.MqttClient;
  let open: SdkPeer[] = [];
  /** What the device received on its cmd topic, in order. */
  const received: { command: Command; qos: number }[] = [];

  beforeAll(async () => {
    storage = await freshStorage();
    const types = declareTypes(storage, {
      accept_undeclared: true,
      types: {
        thermostat: {
          commands: {
            set_interval: { payload: { interval: { type: 'integer', range: [1, 3600], required: true } } },
            reboot: { payload: {} },
          },
        },
      },
    });
    app = await bootApp({ DEVICE_TYPES: types }, storage);
    prefix = app.config.mqtt.topicPrefix;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `thermostat-sig-${process.pid}` });
    await device.subscribeAsync(`${prefix}/thermostat/t-1/cmd`, { qos: 1 });
    device.on('message', (_topic, payload, packet) => {
      const command = JSON.parse(payload.toString()) as Command;
      received.push({ command, qos: packet.qos });
      const response = { request_id: command.request_id, result: { applied: command.command } };
      void device.publishAsync(`${prefix}/thermostat/t-1/cmd/response`, JSON.stringify(response), { qos: 1 });
    });
    // The device announces itself, so the registry knows it before any command.
    await device.publishAsync(`${prefix}/thermostat/t-1/status`, JSON.stringify({ status: 'online' }), { qos: 1 });
    await waitFor(
      async () =>
        (
          await fetch(`${app.url}/api/devices/thermostat/t-1`, {
            headers: { Authorization: `Bearer ${app.clientToken}` },
          })
        ).status === 200
          ? true
          : undefined,
      't-1 registered',
    );
  });
  beforeEach(() => {
    received.length = 0;
  });
  afterEach(async () => {
    await Promise.all(open.map((p) => p.client.close()));
    open = [];
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
    await storage.dispose();
  });

  async function connected(
    peerId: string,
    channels: string[],
    permissions: Permission[] = ['subscribe', 'publish'],
  ): Promise<SdkPeer> {
    const p = sdkPeer(app, { token: mint(app, { peerId, channels, permissions }) });
    open.push(p);
    await p.client.connect();
    return p;
  }

  it('sends the command to the device over MQTT and brings its answer back as a command_response event', async () => {
    const cmd = `${prefix}/thermostat/t-1/cmd`;
    const watcher = await connected('cmd-watcher', [`${prefix}/**`]);
    await watcher.client.subscribe(`${prefix}/thermostat/t-1/*`);
    const operator = await connected('cmd-operator', [`${prefix}/thermostat/**`]);

    // The ack comes once the command is on its way to the device.
    await operator.client.publish(cmd, { command: 'set_interval', payload: { interval: 60 } });
    const at = await waitFor(() => received[0], 'the command at the device');
    expect(at).toEqual({
      command: { command: 'set_interval', payload: { interval: 60 }, request_id: expect.any(String) },
      qos: 1,
    });
    const requestId = at.command.request_id;

    const response = await watcher.events.message.next(
      (m) => m.channel.endsWith('/command_response'),
      'the command_response event',
    );
    expect(response).toEqual({
      channel: `${prefix}/thermostat/t-1/command_response`,
      from: '_server',
      data: expect.objectContaining({
        device_type: 'thermostat',
        device_id: 't-1',
        event: 'command_response',
        data: { request_id: requestId, result: { applied: 'set_interval' } },
      }),
    });
    // The log's order: the command event, then the device's answer.
    // Only the command events: t-1's own status event may still be on its way (through Redis when REDIS_URL is set).
    const fromServer = watcher.events.message.items.filter(
      (m) => m.from === '_server' && /\/command(_response)?$/.test(m.channel),
    );
    expect(fromServer.map((m) => [m.channel, (m.data as Json).data.request_id])).toEqual([
      [`${prefix}/thermostat/t-1/command`, requestId],
      [`${prefix}/thermostat/t-1/command_response`, requestId],
    ]);
    // Subscribers of the cmd channel (a signalling device, issue #15) get the command once, from the server, with its
    // request_id, as an MQTT device gets it: not the operator's raw publish as well.
    const onCmd = watcher.events.message.items.filter((m) => m.channel === cmd);
    expect(onCmd).toEqual([
      {
        channel: cmd,
        from: '_server',
        data: { command: 'set_interval', payload: { interval: 60 }, request_id: requestId },
      },
    ]);
    expect(received).toHaveLength(1);
  });

  it('refuses what the REST command refuses, with error codes, and sends the device nothing', async () => {
    const cmd = `${prefix}/thermostat/t-1/cmd`;
    const operator = await connected('bad-operator', [`${prefix}/thermostat/**`]);
    const reader = await connected('reader', [`${prefix}/thermostat/**`], ['subscribe']);
    const elsewhere = await connected('elsewhere', [`${prefix}/camera/**`]);
    const cases: [string, () => Promise<unknown>][] = [
      [
        'malformed_message',
        () => operator.client.publish(cmd, { command: 'set_interval', payload: { interval: 99999 } }),
      ],
      ['malformed_message', () => operator.client.publish(cmd, { command: 'self_destruct' })],
      ['malformed_message', () => operator.client.publish(cmd, 'reboot')],
      ['invalid_channel', () => operator.client.publish(`${prefix}/thermostat/t-404/cmd`, { command: 'reboot' })],
      ['action_not_permitted', () => reader.client.publish(cmd, { command: 'reboot' })],
      ['channel_not_authorized', () => elsewhere.client.publish(cmd, { command: 'reboot' })],
    ];
    for (const [code, attempt] of cases)
      expect({ code, got: (await rejection(attempt())).name }).toEqual({ code, got: code });

    // The connection stays open, and the next valid command is the only one the device gets.
    await operator.client.publish(cmd, { command: 'reboot' });
    await waitFor(() => received[0], 'the valid command');
    expect(received.map((r) => r.command.command)).toEqual(['reboot']);
  });
});
