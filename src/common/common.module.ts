import type { MiddlewareConsumer, NestModule } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { PlainQueryMiddleware } from './plain-query.middleware';
import { UpgradeRouter } from './upgrade-router';

/** The WebSocket upgrade router every socket endpoint registers on, and the query-shape check of every route. */
@Module({ providers: [UpgradeRouter], exports: [UpgradeRouter] })
export class CommonModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(PlainQueryMiddleware).forRoutes('{*path}');
  }
}
