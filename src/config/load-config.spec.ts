import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, readEnvironment } from './load-config';
import { parseDuration } from './duration';

describe('loadConfig', () => {
  const dataDir = (): string => mkdtempSync(join(tmpdir(), 'dhb-config-'));

  it('runs on the embedded defaults with no configuration', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.http).toEqual({ port: 3000, host: '0.0.0.0' });
    expect(config.mqtt).toMatchObject({ url: undefined, port: 1883, topicPrefix: 'things', deviceAuth: true });
    expect(config.database).toEqual({ type: 'sqlite', path: join(dir, 'devicehub.sqlite') });
    expect(config.sqliteSynchronous).toBe('full');
    expect(config.redisUrl).toBeUndefined();
    expect(config.maxMessageSize).toBe(65536);
    expect(config.json).toEqual({ maxDepth: 32, maxKeys: 1000 });
    expect(config.sseKeepaliveIntervalSec).toBe(30);
    expect(config.eventRetentionMs).toBe(24 * 3600 * 1000);
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.delivery).toEqual({ sendBufferBytes: 1024 * 1024, endTimeoutMs: 30_000 });
    expect(config.mqtt.maxInFlight).toBe(10_000);
    expect(config.eventLog).toEqual({ batchLimit: 5000, queueLimit: 50_000, replayBuffer: 10_000 });
    expect(config.readings).toEqual({ batchLimit: 20_000, queueLimit: 200_000 });
    expect(config.auth.required).toBe(true);
    expect(config.auth.allowedOrigins).toEqual([]);
    expect(config.logLevel).toBe('info');
  });

  it('generates secrets into DATA_DIR once and reuses them', () => {
    const dir = dataDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    expect(first.auth.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.auth.adminToken).toMatch(/^adm_/);
    expect(second.auth).toEqual(first.auth);
    expect(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8'))).toEqual({
      jwtSecret: first.auth.jwtSecret,
      adminToken: first.auth.adminToken,
    });
  });

  it('prefers secrets from the environment', () => {
    const config = loadConfig({ DATA_DIR: dataDir(), JWT_SECRET: 'jwt-secret', ADMIN_TOKEN: 'admin-secret' });
    expect(config.auth).toMatchObject({ jwtSecret: 'jwt-secret', adminToken: 'admin-secret' });
  });

  it('reads every variable of the interface', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      PORT: '8080',
      HOST: '127.0.0.1',
      MQTT_URL: 'mqtt://broker:1883',
      MQTT_USERNAME: 'bridge',
      MQTT_PASSWORD: 'pw',
      MQTT_SHARE_GROUP: 'bridges',
      MQTT_INGEST: 'shared',
      MQTT_INGEST_LEASE: '2s',
      TOPIC_PREFIX: 'fleet',
      DATABASE_URL: 'postgres://u@db:5432/devicehub',
      REDIS_URL: 'redis://cache:6379',
      AUTH: 'off',
      ALLOWED_ORIGINS: 'https://App.example.com, http://localhost:5173/,https://app.example.com:443',
      DEVICE_AUTH: 'off',
      MAX_MESSAGE_SIZE: '1024',
      MAX_JSON_DEPTH: '8',
      MAX_JSON_KEYS: '50',
      SSE_KEEPALIVE_INTERVAL: '5',
      EVENT_RETENTION: '7d',
      SHUTDOWN_TIMEOUT: '3s',
      LOG_LEVEL: 'debug',
      MQTT_MAX_IN_FLIGHT: '500',
      EVENT_BATCH_LIMIT: '100',
      EVENT_QUEUE_LIMIT: '1000',
      EVENT_REPLAY_BUFFER: '200',
      READINGS_BATCH_LIMIT: '300',
      READINGS_QUEUE_LIMIT: '4000',
      SQLITE_SYNCHRONOUS: 'normal',
    });
    expect(config.http).toEqual({ port: 8080, host: '127.0.0.1' });
    expect(config.mqtt).toEqual({
      url: 'mqtt://broker:1883',
      port: 1883,
      username: 'bridge',
      password: 'pw',
      shareGroup: 'bridges',
      ingest: 'shared',
      ingestLeaseMs: 2000,
      topicPrefix: 'fleet',
      deviceAuth: false,
      maxInFlight: 500,
    });
    expect(config.eventLog).toEqual({ batchLimit: 100, queueLimit: 1000, replayBuffer: 200 });
    expect(config.readings).toEqual({ batchLimit: 300, queueLimit: 4000 });
    expect(config.database).toEqual({ type: 'postgres', url: 'postgres://u@db:5432/devicehub' });
    expect(config.sqliteSynchronous).toBe('normal');
    expect(config.redisUrl).toBe('redis://cache:6379');
    expect(config.auth.required).toBe(false);
    expect(config.auth.allowedOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
      'https://app.example.com',
    ]);
    expect(config.maxMessageSize).toBe(1024);
    expect(config.json).toEqual({ maxDepth: 8, maxKeys: 50 });
    expect(config.sseKeepaliveIntervalSec).toBe(5);
    expect(config.eventRetentionMs).toBe(7 * 86_400_000);
    expect(config.shutdownTimeoutMs).toBe(3000);
    expect(config.logLevel).toBe('debug');
  });

  it('refuses REDIS_URL on SQLite: instances must share one log', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(
      'REDIS_URL=redis://127.0.0.1:6379: needs DATABASE_URL=postgres://',
    );
  });

  it('accepts sqlite::memory:', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'sqlite::memory:' }).database).toEqual({
      type: 'sqlite',
      path: ':memory:',
    });
  });

  it('names every bad variable and what it accepts in one error', () => {
    const bad: Record<string, [value: string, accepts: string]> = {
      PORT: ['eighty', 'PORT=eighty: expected an integer from 0 to 65535'],
      HOST: ['http://0.0.0.0', 'HOST=http://0.0.0.0: expected an IP address'],
      MQTT_URL: ['http://broker', 'MQTT_URL=http://broker: expected a URL starting with mqtt://'],
      MQTT_PORT: ['70000', 'MQTT_PORT=70000: expected an integer from 0 to 65535'],
      MQTT_SHARE_GROUP: ['a/b', 'MQTT_SHARE_GROUP=a/b: expected a name without /, + or #'],
      MQTT_CLIENT_ID: ['b'.repeat(129), `MQTT_CLIENT_ID=${'b'.repeat(20)}…: expected at most 128 characters`],
      MQTT_INGEST: ['round_robin', 'MQTT_INGEST=round_robin: expected one of lease, shared'],
      MQTT_INGEST_LEASE: ['soon', 'MQTT_INGEST_LEASE=soon: expected a positive duration'],
      TOPIC_PREFIX: ['a/b', 'TOPIC_PREFIX=a/b: expected one topic level'],
      DATABASE_URL: ['mysql://db', 'DATABASE_URL=mysql://db: expected sqlite:PATH, sqlite::memory: or postgres://'],
      REDIS_URL: ['cache:6379', 'REDIS_URL=cache:6379: expected a URL starting with redis:// or rediss://'],
      AUTH: ['maybe', 'AUTH=maybe: expected one of required, off'],
      ALLOWED_ORIGINS: [
        'https://ok.example,app.example.com,https://a.example/path',
        'ALLOWED_ORIGINS=https://ok.example,app.example.com,https://a.example/path: expected origins such as https://app.example.com,http://localhost:8080 (not app.example.com, https://a.example/path)',
      ],
      DEVICE_AUTH: ['no', 'DEVICE_AUTH=no: expected one of required, off'],
      MAX_MESSAGE_SIZE: ['big', 'MAX_MESSAGE_SIZE=big: expected an integer from 64 to'],
      MAX_JSON_DEPTH: ['5000', 'MAX_JSON_DEPTH=5000: expected an integer from 2 to 1000'],
      MAX_JSON_KEYS: ['0', 'MAX_JSON_KEYS=0: expected an integer from 1 to 1000000'],
      DEVICE_TYPES: [
        '/nonexistent/types.yaml',
        'DEVICE_TYPES=/nonexistent/types.yaml: expected the path of a JSON or YAML file',
      ],
      SSE_KEEPALIVE_INTERVAL: ['0', 'SSE_KEEPALIVE_INTERVAL=0: expected an integer from 1 to 3600'],
      EVENT_RETENTION: ['forever', 'EVENT_RETENTION=forever: expected a positive duration such as 30s, 15m, 24h or 7d'],
      SHUTDOWN_TIMEOUT: ['0', 'SHUTDOWN_TIMEOUT=0: expected a positive duration'],
      SEND_BUFFER_LIMIT: ['-1', 'SEND_BUFFER_LIMIT=-1: expected an integer from 1024 to'],
      STREAM_END_TIMEOUT: ['soon', 'STREAM_END_TIMEOUT=soon: expected a positive duration'],
      LOG_LEVEL: ['loud', 'LOG_LEVEL=loud: expected one of fatal, error, warn, info, debug, trace'],
      MQTT_MAX_IN_FLIGHT: ['70000', 'MQTT_MAX_IN_FLIGHT=70000: expected an integer from 1 to 65535'],
      EVENT_BATCH_LIMIT: ['0', 'EVENT_BATCH_LIMIT=0: expected an integer from 1 to 100000'],
      EVENT_QUEUE_LIMIT: ['lots', 'EVENT_QUEUE_LIMIT=lots: expected an integer from 1 to'],
      EVENT_REPLAY_BUFFER: ['-5', 'EVENT_REPLAY_BUFFER=-5: expected an integer from 1 to'],
      READINGS_BATCH_LIMIT: ['1.5', 'READINGS_BATCH_LIMIT=1.5: expected an integer from 1 to'],
      READINGS_QUEUE_LIMIT: ['0', 'READINGS_QUEUE_LIMIT=0: expected an integer from 1 to'],
      SQLITE_SYNCHRONOUS: ['off', 'SQLITE_SYNCHRONOUS=off: expected one of full, normal'],
    };
    const env = Object.fromEntries(Object.entries(bad).map(([name, [value]]) => [name, value]));
    let error: unknown;
    try {
      loadConfig({ DATA_DIR: dataDir(), ...env });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, problems } = error as ConfigError;
    expect(message.split('\n')[0]).toBe('Invalid configuration:');
    // One line per bad variable, each naming it and what it accepts.
    expect(problems).toHaveLength(Object.keys(bad).length);
    for (const [name, [, accepts]] of Object.entries(bad)) {
      expect(problems.filter((p) => p.startsWith(`${name}=`))).toEqual([expect.stringContaining(accepts)]);
    }
  });

  it('asks an external broker for fewer messages in flight than the embedded broker holds', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), MQTT_URL: 'mqtt://broker:1883' }).mqtt.maxInFlight).toBe(2000);
  });

  it('accepts host names and IPv6 addresses as HOST', () => {
    for (const host of ['localhost', 'bridge.internal', '::', '::1', '10.0.0.7']) {
      expect(loadConfig({ DATA_DIR: dataDir(), HOST: host }).http.host).toBe(host);
    }
  });

  it('says so when DATA_DIR cannot keep the generated secrets, and needs no DATA_DIR when both are given', () => {
    const file = join(dataDir(), 'not-a-dir');
    writeFileSync(file, '');
    expect(() => loadConfig({ DATA_DIR: file })).toThrow(
      new RegExp(`DATA_DIR=${file}: cannot keep the generated secrets .*set JWT_SECRET and ADMIN_TOKEN`),
    );
    expect(loadConfig({ DATA_DIR: file, JWT_SECRET: 'j', ADMIN_TOKEN: 'a' }).auth.adminToken).toBe('a');
  });

  it('refuses a damaged secrets.json rather than replacing the secrets in it, naming the file', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'secrets.json'), '{not json');
    expect(() => loadConfig({ DATA_DIR: dir })).toThrow(/DATA_DIR=.*secrets\.json/);
  });
});

describe('readEnvironment', () => {
  it('reads .env under the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dhb-env-'));
    writeFileSync(join(dir, '.env'), 'PORT=4000\nTOPIC_PREFIX=fleet\n');
    expect(readEnvironment({ PORT: '5000' }, dir)).toMatchObject({ PORT: '5000', TOPIC_PREFIX: 'fleet' });
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['90', 90_000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it('refuses what is not a duration', () => {
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('-5s')).toBeUndefined();
  });
});
