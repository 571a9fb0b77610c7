import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { EventLogRepository } from '../bus/event-log.repository';
import { PostgresEventLogRepository } from '../bus/postgres-event-log.repository';
import { SqliteEventLogRepository } from '../bus/sqlite-event-log.repository';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { DevicesRepository } from '../devices/devices.repository';
import { PostgresDevicesRepository } from '../devices/postgres-devices.repository';
import { SqliteDevicesRepository } from '../devices/sqlite-devices.repository';
import { BatchWriter, sqlitePragma } from './batch-writer';
import { BridgeDataSource } from './bridge-data-source';
import { MIGRATIONS } from './migrations';

export function dataSourceOptions(config: AppConfig): TypeOrmModuleOptions {
  const common = {
    autoLoadEntities: true,
    migrations: MIGRATIONS,
    migrationsRun: true,
    synchronize: false,
    logging: ['error' as const],
    // Start-up fails fast instead of retrying for a minute (Nest's default).
    retryAttempts: 1,
  };
  const db = config.database;
  if (db.type === 'postgres') {
    return { ...common, type: 'postgres', url: db.url, extra: { max: 10 } };
  }
  if (db.path !== ':memory:') mkdirSync(dirname(db.path), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: db.path,
    enableWAL: true,
    // WAL with synchronous=FULL (SQLITE_SYNCHRONOUS): a commit is on disk when it returns, also across a power
    // cut (issue #11; NORMAL survives a process crash only). This connection's writes are rare (credentials
    // shown once, rejects, poll positions); the hot path's go to the writer thread, which syncs the same way.
    prepareDatabase: (sqlite: { pragma(source: string): unknown }) => {
      sqlite.pragma(`synchronous = ${sqlitePragma(config.sqliteSynchronous)}`);
      // On a file, checkpoints are the writer thread's, after its commits; never on the event loop.
      if (db.path !== ':memory:') sqlite.pragma('wal_autocheckpoint = 0');
    },
  };
}

/** The hot path's stores, SQLite's or PostgreSQL's: the one place the backend is chosen. */
const STORES = [
  { provide: EventLogRepository, postgres: PostgresEventLogRepository, sqlite: SqliteEventLogRepository },
  { provide: DevicesRepository, postgres: PostgresDevicesRepository, sqlite: SqliteDevicesRepository },
].map(({ provide, postgres, sqlite }) => ({
  provide,
  inject: [APP_CONFIG, getDataSourceToken(), BatchWriter],
  useFactory: (config: AppConfig, db: DataSource, writer: BatchWriter) =>
    config.database.type === 'postgres' ? new postgres(db, writer) : new sqlite(db, writer),
}));

/**
 * Owns the TypeORM connection (SQLite by default, PostgreSQL with
 * `DATABASE_URL`), the BatchWriter that takes the hot path's writes, and
 * the stores of the event log and of devices and readings, each one
 * interface with a SQLite and a PostgreSQL implementation (chosen here, as
 * MqttModule chooses a transport).
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: dataSourceOptions,
      // SQLite transactions one at a time (see BridgeDataSource).
      dataSourceFactory: (options?: DataSourceOptions) =>
        new BridgeDataSource(options as DataSourceOptions).initialize(),
    }),
  ],
  providers: [BatchWriter, ...STORES],
  exports: [BatchWriter, EventLogRepository, DevicesRepository],
})
export class DatabaseModule {}
