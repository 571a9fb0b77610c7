import { Body, Controller, Param, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { DomainError } from '../common/domain-error';
import { DeviceTypes } from '../config/device-types';
import type { DeviceCredentialsParams, GatewayBody } from './credentials.dto';
import { DEVICE_CREDENTIALS_PARAMS, GATEWAY_BODY } from './credentials.dto';
import type { MintedCredentials } from './credentials.service';
import { CredentialsService } from './credentials.service';
import { AdminAuth, Answers, ApiDoc, ApiTags, Fails, Invalid, ref, Unauthorized } from '../docs/api-docs.decorators';

/**
 * Embedded-broker credentials (bridge.md, "REST and admin"). The password is
 * in this answer only; minting again rotates it.
 */
@Controller('admin')
@UseGuards(AdminGuard)
@ApiTags('admin')
@AdminAuth()
export class CredentialsController {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly deviceTypes: DeviceTypes,
  ) {}

  @Post('devices/:type/:id/credentials')
  @ApiDoc(
    'mintDeviceCredentials',
    "Mint (or rotate) a device's MQTT credentials for the embedded broker",
    'The password is shown once and stored hashed. The device may publish only under `{prefix}/{type}/{id}/…` and subscribe only to its own `cmd`.',
  )
  @Answers(201, 'The new credentials.', ref('Credentials'))
  @Invalid()
  @Unauthorized()
  @Fails(
    409,
    '`embedded_broker_only`: with MQTT_URL set, devices authenticate at that broker, not with credentials minted here.',
  )
  device(
    @Param({ schema: DEVICE_CREDENTIALS_PARAMS }) { type, id }: DeviceCredentialsParams,
  ): Promise<MintedCredentials> {
    if (!this.deviceTypes.isAccepted(type)) {
      throw new DomainError('undeclared_type', `Device type ${type} is not declared and undeclared types are refused`);
    }
    return this.credentials.mintDevice(type, id);
  }

  /** `{"name", "topics": [MQTT topic filter…]}`: the gateway publishes and subscribes within those filters. */
  @Post('gateways')
  @ApiDoc('mintGatewayCredentials', 'Mint (or rotate) gateway credentials scoped to topic patterns')
  @Answers(201, 'The new credentials.', ref('Credentials'))
  @Invalid()
  @Unauthorized()
  @Fails(
    409,
    '`embedded_broker_only`: with MQTT_URL set, devices authenticate at that broker, not with credentials minted here.',
  )
  gateway(@Body({ schema: GATEWAY_BODY }) body: GatewayBody): Promise<MintedCredentials> {
    return this.credentials.mintGateway(body.name, body.topics);
  }
}
