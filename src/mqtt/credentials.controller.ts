import { Body, Controller, Param, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { DomainError, InvalidRequestError } from '../common/domain-error';
import { BodyReader, NAME_PATTERN } from '../common/validate';
import { DeviceTypes } from '../config/device-types';
import type { MintedCredentials } from './credentials.service';
import { CredentialsService } from './credentials.service';
import { FILTER_PATTERN } from './topic-acl';

/** A topic filter a gateway may be given: any filter but `$`-topics, which are the broker's. */
const GATEWAY_FILTER = new RegExp(`^(?!\\$)${FILTER_PATTERN.source.slice(1)}`);
const NAME_RULE = 'must be 1 to 128 characters without /, +, # or whitespace';

/**
 * Embedded-broker credentials (bridge.md, "REST and admin"). The password is
 * in this answer only; minting again rotates it.
 */
@Controller('admin')
@UseGuards(AdminGuard)
export class CredentialsController {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly deviceTypes: DeviceTypes,
  ) {}

  @Post('devices/:type/:id/credentials')
  device(@Param('type') type: string, @Param('id') id: string): Promise<MintedCredentials> {
    const problems: Record<string, string> = {};
    if (!NAME_PATTERN.test(type)) problems.device_type = NAME_RULE;
    if (!NAME_PATTERN.test(id)) problems.device_id = NAME_RULE;
    if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
    if (!this.deviceTypes.isAccepted(type)) {
      throw new DomainError('undeclared_type', `Device type ${type} is not declared and undeclared types are refused`);
    }
    return this.credentials.mintDevice(type, id);
  }

  /** `{"name", "topics": [MQTT topic filter…]}`: the gateway publishes and subscribes within those filters. */
  @Post('gateways')
  gateway(@Body() body: unknown): Promise<MintedCredentials> {
    const r = new BodyReader(body);
    const name = r.name('name');
    const topics = r.stringArray(
      'topics',
      GATEWAY_FILTER,
      'must be 1 to 100 MQTT topic filters (+ for one level, # for the rest), none under $',
      100,
    );
    r.done();
    return this.credentials.mintGateway(name as string, topics as string[]);
  }
}
