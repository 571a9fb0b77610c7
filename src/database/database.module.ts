import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { DataSourceOptions } from 'typeorm';
import { BatchWriter } from './batch-writer';
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
    // WAL with synchronous=NORMAL is durable across process crashes; the log batches writes anyway.
    prepareDatabase: (sqlite: { pragma(source: string): unknown }) => {
      sqlite.pragma('synchronous = NORMAL');
      // On a file, checkpoints are the writer thread's, after its commits; never on the event loop.
      if (db.path !== ':memory:') sqlite.pragma('wal_autocheckpoint = 0');
    },
  };
}

/**
 * Owns the TypeORM connection (SQLite by default, PostgreSQL with
 * `DATABASE_URL`) and the BatchWriter that takes the hot path's writes.
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
  providers: [BatchWriter],
  exports: [BatchWriter],
})
export class DatabaseModule {}
