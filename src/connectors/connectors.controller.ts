import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import {
  AdminAuth,
  Answers,
  ApiDoc,
  ApiParam,
  ApiTags,
  Fails,
  Invalid,
  NotFound,
  ref,
  Unauthorized,
} from '../docs/api-docs.decorators';
import type { CreateConnectorBody, PatchConnectorBody, ReplayConnectorBody } from './connector-definition';
import { CREATE_CONNECTOR, NO_FIELDS, PATCH_CONNECTOR, REPLAY_CONNECTOR } from './connector-definition';
import type { ConnectorView, TestResult } from './connector-view';
import { ConnectorsService } from './connectors.service';

const NAME = { name: 'name', description: 'Connector name.', example: 'alerts' };
const Configured = (): MethodDecorator & ClassDecorator =>
  Fails(409, '`connector_configured`: the connector comes from CONNECTORS and is changed there.');

/** Data connectors (issue #16): signed webhooks fed from the event log, at least once. */
@Controller('admin/connectors')
@UseGuards(AdminGuard)
@ApiTags('connectors')
@AdminAuth()
export class ConnectorsController {
  constructor(private readonly connectors: ConnectorsService) {}

  @Get()
  @ApiDoc('listConnectors', 'Every connector with its cursor, lag, last answer and counts')
  @Answers(200, 'Every connector, by name.', {
    type: 'object',
    required: ['connectors'],
    properties: { connectors: { type: 'array', items: ref('Connector') } },
  })
  @Unauthorized()
  async list(): Promise<{ connectors: ConnectorView[] }> {
    return { connectors: await this.connectors.list() };
  }

  @Post()
  @ApiDoc(
    'createConnector',
    'Create a connector; it delivers events committed from now on',
    'The answer holds the signing `secret`, the only time it is shown (generated unless given).',
  )
  @Answers(201, 'The connector, with its secret.', ref('ConnectorCreated'))
  @Invalid()
  @Unauthorized()
  @Fails(409, '`connector_exists`: a connector has that name already.')
  create(@Body({ schema: CREATE_CONNECTOR }) body: CreateConnectorBody): Promise<ConnectorView & { secret: string }> {
    return this.connectors.create(body);
  }

  @Get(':name')
  @ApiDoc('getConnector', 'One connector with its figures')
  @ApiParam(NAME)
  @Answers(200, 'The connector.', ref('Connector'))
  @Unauthorized()
  @NotFound('connector')
  get(@Param('name') name: string): Promise<ConnectorView> {
    return this.connectors.get(name);
  }

  @Patch(':name')
  @ApiDoc('patchConnector', 'Change a connector; `null` clears a filter field')
  @ApiParam(NAME)
  @Answers(200, 'The connector as changed.', ref('Connector'))
  @Invalid()
  @Unauthorized()
  @NotFound('connector')
  @Configured()
  patch(
    @Param('name') name: string,
    @Body({ schema: PATCH_CONNECTOR }) body: PatchConnectorBody,
  ): Promise<ConnectorView> {
    return this.connectors.patch(name, body);
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiDoc('deleteConnector', 'Remove a connector and its cursor')
  @ApiParam(NAME)
  @Answers(204, 'Removed.')
  @Unauthorized()
  @NotFound('connector')
  @Configured()
  async delete(@Param('name') name: string): Promise<void> {
    await this.connectors.delete(name);
  }

  @Post(':name/pause')
  @HttpCode(200)
  @ApiDoc('pauseConnector', 'Stop delivering; events keep accumulating in the log behind the cursor')
  @ApiParam(NAME)
  @Answers(200, 'The connector, paused.', ref('Connector'))
  @Unauthorized()
  @NotFound('connector')
  pause(@Param('name') name: string, @Body({ schema: NO_FIELDS }) _body: unknown): Promise<ConnectorView> {
    return this.connectors.pause(name);
  }

  @Post(':name/resume')
  @HttpCode(200)
  @ApiDoc('resumeConnector', 'Deliver again from the cursor')
  @ApiParam(NAME)
  @Answers(200, 'The connector, resumed.', ref('Connector'))
  @Unauthorized()
  @NotFound('connector')
  resume(@Param('name') name: string, @Body({ schema: NO_FIELDS }) _body: unknown): Promise<ConnectorView> {
    return this.connectors.resume(name);
  }

  @Post(':name/replay')
  @HttpCode(200)
  @ApiDoc(
    'replayConnector',
    'Move the cursor back (or forward) to an event id or a time',
    'Delivery starts again with the event `from_id` (inclusive), or with the first event received at or after `from_time`. A position older than EVENT_RETENTION keeps brings a `reset` notice in the next delivery.',
  )
  @ApiParam(NAME)
  @Answers(200, 'The connector with its new cursor.', ref('Connector'))
  @Invalid()
  @Unauthorized()
  @NotFound('connector')
  replay(
    @Param('name') name: string,
    @Body({ schema: REPLAY_CONNECTOR }) body: ReplayConnectorBody,
  ): Promise<ConnectorView> {
    return this.connectors.replay(name, body);
  }

  @Post(':name/test')
  @HttpCode(200)
  @ApiDoc(
    'testConnector',
    'Send a signed test delivery (no events, `"test": true`) and report the answer',
    'The cursor and counts do not move. `ok` is false for any answer but a 2xx.',
  )
  @ApiParam(NAME)
  @Answers(200, 'How the receiver answered.', ref('ConnectorTest'))
  @Unauthorized()
  @NotFound('connector')
  test(@Param('name') name: string, @Body({ schema: NO_FIELDS }) _body: unknown): Promise<TestResult> {
    return this.connectors.test(name);
  }
}
