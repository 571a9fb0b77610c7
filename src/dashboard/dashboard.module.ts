import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller';
import { DeviceTypesController } from './device-types.controller';

/** The operator dashboard at `/`, built from web/ by `npm run build`, and the declarations it reads (issue #6). */
@Module({ controllers: [DashboardController, DeviceTypesController] })
export class DashboardModule {}
