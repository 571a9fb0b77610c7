import { Body, Controller, Param, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { AdminAuth, Answers, ApiDoc, ApiTags, Invalid, ref, Unauthorized } from '../docs/api-docs.decorators';
import type { DeviceCredentialsParams } from '../mqtt/credentials.dto';
import { DEVICE_CREDENTIALS_PARAMS } from '../mqtt/credentials.dto';
import type { DeviceTokenBody, GatewayTokenBody } from './device-tokens.dto';
import { DEVICE_TOKEN_BODY, GATEWAY_TOKEN_BODY } from './device-tokens.dto';
import type { DeviceToken } from './device-tokens.service';
import { DeviceTokensService } from './device-tokens.service';

/** Signalling tokens for devices and gateways (issue #15), minted with the admin credential. */
@Controller('admin')
@UseGuards(AdminGuard)
@ApiTags('signalling')
@AdminAuth()
export class DeviceTokensController {
  constructor(private readonly tokens: DeviceTokensService) {}

  @Post('devices/:type/:id/token')
  @ApiDoc(
    'mintDeviceToken',
    "Mint a device's signalling token",
    'Its peer id is `{type}/{id}`; it publishes only its own `data`, `status` and `cmd/response` channels (standard and mapped) and subscribes only to its own `cmd` channels. A device not known yet becomes `provisioning`.',
  )
  @Answers(201, 'The token and its channels.', ref('DeviceToken'))
  @Invalid()
  @Unauthorized()
  device(
    @Param({ schema: DEVICE_CREDENTIALS_PARAMS }) { type, id }: DeviceCredentialsParams,
    @Body({ schema: DEVICE_TOKEN_BODY }) body: DeviceTokenBody,
  ): Promise<DeviceToken> {
    return this.tokens.mintDevice(type, id, body.expiresInSec);
  }

  @Post('gateways/token')
  @ApiDoc(
    'mintGatewayToken',
    'Mint a gateway signalling token scoped to channel patterns',
    'Its peer id is `name`; it publishes device messages on the device channels its patterns cover and subscribes to the command channels they cover.',
  )
  @Answers(201, 'The token and its channels.', ref('DeviceToken'))
  @Invalid()
  @Unauthorized()
  gateway(@Body({ schema: GATEWAY_TOKEN_BODY }) body: GatewayTokenBody): DeviceToken {
    return this.tokens.mintGateway(body.name, body.channels, body.expiresInSec);
  }
}
