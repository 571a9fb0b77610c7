import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { DEFAULT_JSON_LIMITS } from '../common/json-limits';
import type { AppConfig, DatabaseConfig, LogLevel, SqliteSynchronous } from './app-config';
import { LOG_LEVELS, SQLITE_SYNCHRONOUS } from './app-config';
import { parseDuration } from './duration';
import { readDeviceChannels } from './device-channels';
import { readBrokerTls, readExternalTls } from './tls-config';

export type Env = Record<string, string | undefined>;

/** Every bad variable at once, so an operator fixes them in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Reads `.env` (when present) under the real environment: variables already
 * set win, as with dotenv.
 */
export function readEnvironment(processEnv: Env, cwd = process.cwd()): Env {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return { ...processEnv };
  return { ...parseEnv(readFileSync(file, 'utf8')), ...processEnv };
}

/** The process's configuration: its environment over `.env`, validated (what `main.ts` starts with). */
export function loadProcessConfig(): AppConfig {
  return loadConfig(readEnvironment(process.env));
}

/** Reads and checks variables, collecting every problem (tls-config.ts reads with it too). */
export class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${text}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(text)) {
      this.problems.push(`${name}=${text}: expected one of ${allowed.join(', ')}`);
      return fallback;
    }
    return text as T;
  }

  url(name: string, protocols: string[]): string | undefined {
    const text = this.raw(name);
    if (text === undefined) return undefined;
    try {
      const parsed = new URL(text);
      if (protocols.includes(parsed.protocol)) return text;
    } catch {
      // reported below
    }
    this.problems.push(`${name}=${text}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    return undefined;
  }

  duration(name: string, fallbackMs: number, bareUnit: 's' | 'ms' = 's'): number {
    const text = this.raw(name);
    if (text === undefined) return fallbackMs;
    const ms = parseDuration(text, bareUnit);
    if (ms === undefined || ms <= 0) {
      this.problems.push(`${name}=${text}: expected a positive duration such as 30s, 15m, 24h or 7d`);
      return fallbackMs;
    }
    return ms;
  }

  /** An IP address or a host name: what `listen` takes. */
  host(name: string, fallback: string): string {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (
      isIP(text) === 0 &&
      !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(
        text,
      )
    ) {
      this.problems.push(`${name}=${text}: expected an IP address (0.0.0.0, 127.0.0.1, ::) or a host name`);
      return fallback;
    }
    return text;
  }

  /** A comma-separated list of web origins (scheme, host and port only), as browsers send them in `Origin`. */
  origins(name: string): string[] {
    const text = this.raw(name);
    if (text === undefined) return [];
    const origins: string[] = [];
    const bad: string[] = [];
    for (const item of text.split(',').map((i) => i.trim())) {
      const url = URL.canParse(item) ? new URL(item) : undefined;
      if (url && ['http:', 'https:'].includes(url.protocol) && `${url.origin}/` === url.href.replace(/\/?$/, '/')) {
        origins.push(url.origin);
      } else bad.push(item);
    }
    if (bad.length > 0) {
      this.problems.push(
        `${name}=${text}: expected origins such as https://app.example.com,http://localhost:8080 (not ${bad.join(', ')})`,
      );
    }
    return origins;
  }

  onOff(name: string, onWord: string): boolean {
    return this.oneOf(name, [onWord, 'off'], onWord) === onWord;
  }
}

function readDatabase(r: Reader, dataDir: string): DatabaseConfig {
  const text = r.raw('DATABASE_URL');
  if (text === undefined) return { type: 'sqlite', path: join(dataDir, 'devicehub.sqlite') };
  if (text.startsWith('sqlite:')) {
    const path = text.slice('sqlite:'.length);
    if (path === '') {
      r.problems.push(`DATABASE_URL=${text}: expected sqlite:PATH, sqlite::memory: or postgres://…`);
      return { type: 'sqlite', path: ':memory:' };
    }
    return { type: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(text)) return { type: 'postgres', url: text };
  r.problems.push(`DATABASE_URL=${text}: expected sqlite:PATH, sqlite::memory: or postgres://…`);
  return { type: 'sqlite', path: ':memory:' };
}

/**
 * Secrets not given in the environment are generated once and kept in
 * `DATA_DIR/secrets.json`, so tokens printed at start-up survive a restart.
 */
function generatedSecrets(dataDir: string): { jwtSecret: string; adminToken: string } {
  const file = join(dataDir, 'secrets.json');
  try {
    if (existsSync(file)) {
      const stored = JSON.parse(readFileSync(file, 'utf8')) as { jwtSecret?: unknown; adminToken?: unknown };
      if (
        typeof stored.jwtSecret === 'string' &&
        stored.jwtSecret &&
        typeof stored.adminToken === 'string' &&
        stored.adminToken
      )
        return { jwtSecret: stored.jwtSecret, adminToken: stored.adminToken };
    }
    const secrets = {
      jwtSecret: randomBytes(32).toString('base64url'),
      adminToken: `adm_${randomBytes(24).toString('base64url')}`,
    };
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    return secrets;
  } catch (err) {
    // An unwritable directory or a damaged file: say which, as for any other bad setting.
    throw new ConfigError([
      `DATA_DIR=${dataDir}: cannot keep the generated secrets in ${file} (${(err as Error).message}); ` +
        'make it writable, or set JWT_SECRET and ADMIN_TOKEN',
    ]);
  }
}

/** Validates the whole environment; throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env): AppConfig {
  const r = new Reader(env);
  const dataDir = resolve(r.raw('DATA_DIR') ?? './data');
  const mqttUrl = r.url('MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']);
  const config: Omit<AppConfig, 'auth'> & { auth: Pick<AppConfig['auth'], 'required' | 'allowedOrigins'> } = {
    http: {
      port: r.int('PORT', 3000, 0, 65535),
      host: r.host('HOST', '0.0.0.0'),
    },
    mqtt: {
      url: mqttUrl,
      port: r.int('MQTT_PORT', 1883, 0, 65535),
      username: r.raw('MQTT_USERNAME'),
      password: r.raw('MQTT_PASSWORD'),
      shareGroup: r.raw('MQTT_SHARE_GROUP'),
      ingest: r.oneOf('MQTT_INGEST', ['lease', 'shared'] as const, 'lease'),
      ingestLeaseMs: r.duration('MQTT_INGEST_LEASE', 5000),
      clientId: r.raw('MQTT_CLIENT_ID'),
      topicPrefix: r.raw('TOPIC_PREFIX') ?? 'things',
      deviceAuth: r.onOff('DEVICE_AUTH', 'required'),
      tls: readBrokerTls(r, mqttUrl),
      externalTls: readExternalTls(r, mqttUrl),
      // Aedes holds what the embedded broker reads in process; a broker of its own holds the rest.
      maxInFlight: r.int('MQTT_MAX_IN_FLIGHT', mqttUrl === undefined ? 10_000 : 2000, 1, 65_535),
    },
    maxMessageSize: r.int('MAX_MESSAGE_SIZE', 65536, 64, 256 * 1024 * 1024),
    json: {
      // Well below where JSON.stringify runs out of stack (a few thousand levels on Node 20's default stack).
      maxDepth: r.int('MAX_JSON_DEPTH', DEFAULT_JSON_LIMITS.maxDepth, 2, 1000),
      maxKeys: r.int('MAX_JSON_KEYS', DEFAULT_JSON_LIMITS.maxKeys, 1, 1_000_000),
    },
    database: readDatabase(r, dataDir),
    sqliteSynchronous: r.oneOf<SqliteSynchronous>('SQLITE_SYNCHRONOUS', SQLITE_SYNCHRONOUS, 'full'),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    dataDir,
    auth: { required: r.onOff('AUTH', 'required'), allowedOrigins: r.origins('ALLOWED_ORIGINS') },
    deviceTypesPath: r.raw('DEVICE_TYPES'),
    sseKeepaliveIntervalSec: r.int('SSE_KEEPALIVE_INTERVAL', 30, 1, 3600),
    eventRetentionMs: r.duration('EVENT_RETENTION', 24 * 3_600_000),
    eventLog: {
      batchLimit: r.int('EVENT_BATCH_LIMIT', 5000, 1, 100_000),
      queueLimit: r.int('EVENT_QUEUE_LIMIT', 50_000, 1, 10_000_000),
      replayBuffer: r.int('EVENT_REPLAY_BUFFER', 10_000, 1, 1_000_000),
    },
    readings: {
      batchLimit: r.int('READINGS_BATCH_LIMIT', 20_000, 1, 1_000_000),
      queueLimit: r.int('READINGS_QUEUE_LIMIT', 200_000, 1, 100_000_000),
    },
    shutdownTimeoutMs: r.duration('SHUTDOWN_TIMEOUT', 10_000),
    logLevel: r.oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, 'info'),
    delivery: {
      sendBufferBytes: r.int('SEND_BUFFER_LIMIT', 1024 * 1024, 1024, 1024 * 1024 * 1024),
      endTimeoutMs: r.duration('STREAM_END_TIMEOUT', 30_000),
    },
    signalling: { keys: r.raw('SIGNALLING_KEYS'), rooms: r.raw('SIGNALLING_ROOMS'), deviceChannels: [] },
    connectors: {
      definitions: r.raw('CONNECTORS'),
      allowPrivate: r.oneOf('CONNECTORS_ALLOW_PRIVATE', ['true', 'false'], 'false') === 'true',
      failingAfterMs: r.duration('CONNECTORS_FAILING_AFTER', 10 * 60_000),
      retryInitialMs: r.duration('CONNECTORS_RETRY_INITIAL', 1000),
      retryMaxMs: r.duration('CONNECTORS_RETRY_MAX', 5 * 60_000),
      leaseTtlMs: r.duration('CONNECTORS_LEASE_TTL', 15_000),
    },
  };
  config.signalling.deviceChannels = readDeviceChannels(
    r.raw('SIGNALLING_DEVICE_CHANNELS'),
    config.mqtt.topicPrefix,
    r.problems,
  );
  const prefix = config.mqtt.topicPrefix;
  if (/[+#/]/.test(prefix)) r.problems.push(`TOPIC_PREFIX=${prefix}: expected one topic level without /, + or #`);
  const group = config.mqtt.shareGroup;
  if (group !== undefined && /[+#/]/.test(group)) {
    r.problems.push(`MQTT_SHARE_GROUP=${group}: expected a name without /, + or #`);
  }
  const clientId = config.mqtt.clientId;
  if (clientId !== undefined && clientId.length > 128) {
    r.problems.push(`MQTT_CLIENT_ID=${clientId.slice(0, 20)}…: expected at most 128 characters`);
  }
  if (config.deviceTypesPath !== undefined && !existsSync(config.deviceTypesPath)) {
    r.problems.push(`DEVICE_TYPES=${config.deviceTypesPath}: expected the path of a JSON or YAML file; none is there`);
  }
  if (config.redisUrl !== undefined && config.database.type === 'sqlite') {
    // Several instances share one log; a SQLite file is one process's (issue #5).
    r.problems.push(
      `REDIS_URL=${config.redisUrl}: needs DATABASE_URL=postgres://… so the instances share one event log`,
    );
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);

  const given = { jwtSecret: r.raw('JWT_SECRET'), adminToken: r.raw('ADMIN_TOKEN') };
  const secrets =
    given.jwtSecret && given.adminToken
      ? { jwtSecret: given.jwtSecret, adminToken: given.adminToken }
      : { ...generatedSecrets(dataDir), ...stripUndefined(given) };
  return { ...config, auth: { ...secrets, ...config.auth } };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
