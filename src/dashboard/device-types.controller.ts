import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ClientAuthGuard } from '../auth/auth.guards';
import { NotFoundError } from '../common/domain-error';
import type { CommandSpec, ReadingSpec } from '../config/device-types';
import { DeviceTypes } from '../config/device-types';
import {
  Answers,
  ApiDoc,
  ApiParam,
  ApiTags,
  ClientAuth,
  NotFound,
  ref,
  Unauthorized,
} from '../docs/api-docs.decorators';

/** A declared device type as clients read it (the DEVICE_TYPES file's own field names). */
export interface DeviceTypeView {
  device_type: string;
  heartbeat_interval: number;
  readings: Record<string, ReadingSpec>;
  commands: Record<string, CommandSpec>;
}

/**
 * `GET /api/device-types/{type}`: what a declared type reads and which
 * commands it takes, so the dashboard offers the declared commands with
 * their payload fields and the simulator stays within declared ranges.
 */
@Controller('api/device-types')
@UseGuards(ClientAuthGuard)
@ApiTags('devices')
@ClientAuth()
export class DeviceTypesController {
  constructor(private readonly types: DeviceTypes) {}

  @Get(':type')
  @ApiDoc(
    'getDeviceType',
    'A declared device type: its readings (type, unit, range) and commands (payload fields)',
    'From the DEVICE_TYPES file. Undeclared types answer 404: when undeclared types are accepted they take any readings and any command.',
  )
  @ApiParam({ name: 'type', description: 'Device type.', example: 'weatherstation' })
  @Answers(200, 'The declaration.', ref('DeviceType'))
  @Unauthorized()
  @NotFound('declared device type')
  get(@Param('type') type: string): DeviceTypeView {
    const spec = this.types.get(type);
    if (spec === undefined) {
      throw new NotFoundError(
        'undeclared_device_type',
        `Device type ${type} is not declared${this.types.isAccepted(type) ? ' (it takes any readings and any command)' : ''}`,
      );
    }
    return {
      device_type: type,
      heartbeat_interval: spec.heartbeatIntervalSec,
      readings: spec.readings,
      commands: spec.commands,
    };
  }
}
