import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { DeviceTypesModule } from '../config/device-types.module';
import { DashboardController } from './dashboard.controller';
import { DeviceTypesController } from './device-types.controller';

/** The operator dashboard at `/`, built from web/ by `npm run build`, and the declarations it reads (issue #6). */
@Module({ imports: [AuthModule, DeviceTypesModule], controllers: [DashboardController, DeviceTypesController] })
export class DashboardModule {}
