import type { MiddlewareConsumer, NestModule } from '@nestjs/common';
import { Global, Module } from '@nestjs/common';
import { PlainQueryMiddleware } from './plain-query.middleware';
import { UpgradeRouter } from './upgrade-router';

@Global()
@Module({ providers: [UpgradeRouter], exports: [UpgradeRouter] })
export class CommonModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(PlainQueryMiddleware).forRoutes('{*path}');
  }
}
