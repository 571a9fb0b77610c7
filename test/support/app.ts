import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { startApp } from '../../src/app';
import type { RunningApp } from '../../src/app';
import type { Env } from '../../src/config/load-config';
import { loadConfig } from '../../src/config/load-config';
import { MqttTransport } from '../../src/mqtt/mqtt-transport';
import { TokenService } from '../../src/auth/token.service';
import type { MIGRATIONS } from '../../src/database/migrations';

/**
 * Backends come from the environment: embedded broker and SQLite by default;
 * Mosquitto and PostgreSQL when `.ci/run` sets MQTT_URL and DATABASE_URL
 * (the integration run of the same suite).
 */
export const backends = {
  mqttUrl: process.env.MQTT_URL,
  databaseUrl: process.env.DATABASE_URL,
  redisUrl: process.env.REDIS_URL,
};

export interface Storage {
  dataDir: string;
  databaseUrl: string;
  topicPrefix: string;
  dispose(): Promise<void>;
}

/**
 * A DataSource on the database the app would open on this storage, without
 * the app, with these migrations: to write what an older version left
 * before the app upgrades it.
 */
export function openDatabase(storage: Storage, migrations: typeof MIGRATIONS): DataSource {
  const db = loadConfig({ DATABASE_URL: storage.databaseUrl, DATA_DIR: storage.dataDir }).database;
  return db.type === 'postgres'
    ? new DataSource({ type: 'postgres', url: db.url, migrations })
    : new DataSource({ type: 'better-sqlite3', database: db.path, migrations });
}

/**
 * A fresh place to keep state: a temp DATA_DIR, and its own SQLite file or
 * PostgreSQL database, and its own topic prefix so test files can share one
 * Mosquitto. Pass it to several `bootApp` calls to restart on the same state.
 */
export async function freshStorage(): Promise<Storage> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dhb-test-'));
  const suffix = randomBytes(4).toString('hex');
  let databaseUrl = `sqlite:${join(dataDir, 'test.sqlite')}`;
  let dropDatabase = async (): Promise<void> => {};
  if (backends.databaseUrl?.startsWith('postgres')) {
    const name = `dhb_test_${suffix}`;
    const admin = new Client({ connectionString: backends.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(backends.databaseUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const c = new Client({ connectionString: backends.databaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  return {
    dataDir,
    databaseUrl,
    topicPrefix: backends.mqttUrl ? `t${suffix}` : 'things',
    dispose: async () => {
      await dropDatabase();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestApp extends RunningApp {
  storage: Storage;
  /** `mqtt://127.0.0.1:PORT` of the embedded broker, or the external broker's URL. */
  mqttUrl: string;
  adminToken: string;
  /** A client token allowed every channel. */
  clientToken: string;
  /** Stops the app and, unless it was handed in, removes its storage. */
  stop(): Promise<void>;
}

/** Boots the real application on port 0 (and the embedded broker on port 0). */
export async function bootApp(env: Env = {}, given?: Storage): Promise<TestApp> {
  const storage = given ?? (await freshStorage());
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_URL: backends.mqttUrl,
    // Redis only with PostgreSQL: instances then share the log (single-instance cluster mode).
    REDIS_URL: backends.databaseUrl?.startsWith('postgres') ? backends.redisUrl : undefined,
    DATA_DIR: storage.dataDir,
    DATABASE_URL: storage.databaseUrl,
    TOPIC_PREFIX: storage.topicPrefix,
    DEVICE_AUTH: 'off',
    LOG_LEVEL: 'error',
    ...env,
  });
  const running = await startApp(config);
  const described = running.app.get(MqttTransport).describe();
  const clientToken = running.app.get(TokenService).mint({ peerId: 'test-client', channels: ['**'] }).token;
  return {
    ...running,
    storage,
    mqttUrl: described.external ?? (described.tcp as string),
    adminToken: config.auth.adminToken,
    clientToken,
    stop: async () => {
      await running.close();
      if (!given) await storage.dispose();
    },
  };
}

/** Writes a DEVICE_TYPES file (bridge.md's declaration format) into the storage's data folder; answers its path. */
export function declareTypes(storage: Pick<Storage, 'dataDir'>, declaration: unknown): string {
  const path = join(storage.dataDir, 'device-types.json');
  writeFileSync(path, JSON.stringify(declaration));
  return path;
}
