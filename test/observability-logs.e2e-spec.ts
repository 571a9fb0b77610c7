import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { ServiceProcess } from './support/process';
import { runService } from './support/process';
import { waitFor } from './support/wait';

interface LogLine {
  level: number;
  time: number;
  service: string;
  context?: string;
  msg?: string;
  requestId?: string;
  connectionId?: string;
  [field: string]: unknown;
}

/** The service's JSON log lines so far (stdout also carries the plain start-up banner). */
function logLines(service: ServiceProcess): LogLine[] {
  return service
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

const PINO_DEBUG = 20;
const PINO_INFO = 30;

/** Structured logs (issue #6): JSON lines, a request or connection id, LOG_LEVEL, nothing per message at info. */
describe('structured logs', () => {
  const dirs: string[] = [];
  const services: ServiceProcess[] = [];

  function start(env: Record<string, string>): ServiceProcess {
    const dataDir = mkdtempSync(join(tmpdir(), 'dhb-logs-'));
    dirs.push(dataDir);
    const service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0', DEVICE_AUTH: 'off', ...env });
    services.push(service);
    return service;
  }
  afterAll(async () => {
    for (const service of services) {
      service.child.kill('SIGTERM');
      await service.exited().catch(() => service.child.kill('SIGKILL'));
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('at debug, tags each request and WebSocket connection with its id, and keeps tokens out', async () => {
    const service = start({ LOG_LEVEL: 'debug' });
    const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/);
    const [, admin] = await service.waitForOutput(/Admin token\s+(\S+)/);
    const [, token] = await service.waitForOutput(/Client token\s+(\S+)/);

    const res = await fetch(`${url}/api/devices?token=${token}`, { headers: { 'X-Request-Id': 'req-logs-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-logs-1');
    const access = await waitFor(() => logLines(service).find((l) => l.requestId === 'req-logs-1'), 'the request line');
    expect(access).toMatchObject({
      level: PINO_DEBUG,
      context: 'HTTP',
      method: 'GET',
      status: 200,
      service: 'devicehub-bridge',
    });
    expect(access.url).toBe('/api/devices?token=…');

    // A line written inside a handler, after the JSON body was parsed, carries the request's id too.
    const minted = await fetch(`${url}/admin/gateways`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json', 'X-Request-Id': 'req-logs-2' },
      body: JSON.stringify({ name: 'site-a', topics: ['things/#'] }),
    });
    expect(minted.status).toBe(201);
    await waitFor(
      () =>
        logLines(service).find(
          (l) => l.requestId === 'req-logs-2' && l.level === PINO_INFO && /minted/.test(l.msg ?? ''),
        ),
      'the handler line with the request id',
    );
    // A generated id when the client sends none.
    const generated = (await fetch(`${url}/health`)).headers.get('x-request-id') as string;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => logLines(service).find((l) => l.requestId === generated), 'the generated id in the log');

    // A WebSocket refused for want of a token: its opening and its close, under one connection id.
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/iot/weatherstation/`);
    ws.on('error', () => undefined);
    await new Promise((resolve) => ws.on('close', resolve));
    const upgrade = await waitFor(
      () => logLines(service).find((l) => l.event === 'upgrade' && l.url === '/ws/iot/weatherstation/'),
      'the upgrade line',
    );
    expect(upgrade.connectionId).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      () => logLines(service).find((l) => l.event === 'closed' && l.connectionId === upgrade.connectionId),
      'the close line',
    );
    expect(JSON.stringify(logLines(service))).not.toContain(token);
  }, 60_000);

  it('at info, writes no line per MQTT message, and rejected messages are rate-limited', async () => {
    const service = start({ LOG_LEVEL: 'info' });
    const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/);
    const [, mqttUrl] = await service.waitForOutput(/embedded broker (mqtt:\/\/[\d.]+:\d+)/);
    await waitFor(() => (logLines(service).length > 0 ? true : undefined), 'the start-up lines');
    const before = logLines(service).length;

    const device = await mqtt.connectAsync(mqttUrl, { clientId: `logs-${process.pid}` });
    for (let n = 0; n < 200; n++) {
      await device.publishAsync('things/meter/m-flood/data', JSON.stringify({ n }), { qos: 1 });
      if (n % 2 === 0)
        await device.publishAsync('things/meter/m-flood/status', JSON.stringify({ status: 'online' }), { qos: 1 });
      if (n % 4 === 0) await device.publishAsync('things/meter/m-flood/data', 'not json', { qos: 1 });
    }
    await device.endAsync();
    await waitFor(async () => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      return /devicehub_mqtt_messages_total\{kind="data"\} 200\b/.test(metrics) ? true : undefined;
    }, 'every message ingested');

    const during = logLines(service).slice(before);
    expect(during.filter((l) => l.level < PINO_INFO)).toEqual([]);
    // 300 messages and 50 rejects: a reject line per reason every 5 s at most, nothing per message.
    const rejectLines = during.filter((l) => /not_json/.test(l.msg ?? '')).length;
    expect(rejectLines).toBeGreaterThanOrEqual(1);
    expect(rejectLines).toBeLessThan(5);
    expect(during.length).toBeLessThan(10);
  }, 60_000);
});
