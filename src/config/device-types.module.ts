import { Module } from '@nestjs/common';
import type { AppConfig } from './app-config';
import { APP_CONFIG } from './app-config';
import { DeviceTypes } from './device-types';

/**
 * The device-type declarations (`DEVICE_TYPES`) for ingestion, the registry and
 * commands. A malformed file stops start-up here with one message naming each
 * problem (`DeviceTypesError`, printed as-is by main.ts).
 */
@Module({
  providers: [
    {
      provide: DeviceTypes,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => DeviceTypes.load(config.deviceTypesPath),
    },
  ],
  exports: [DeviceTypes],
})
export class DeviceTypesModule {}
