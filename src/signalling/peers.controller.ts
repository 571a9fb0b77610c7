import { Controller, Delete, Get, HttpCode, Param, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { NotFoundError } from '../common/domain-error';
import type { PeerInfo } from './peer-info';
import { SignallingHubService } from './signalling-hub.service';
import {
  AdminAuth,
  Answers,
  ApiDoc,
  ApiParam,
  ApiTags,
  NotFound,
  ref,
  Unauthorized,
} from '../docs/api-docs.decorators';

/** Connected signalling peers, on every instance: list them, disconnect one (close 4020). */
@Controller()
@UseGuards(AdminGuard)
@ApiTags('signalling')
@AdminAuth()
export class PeersController {
  constructor(private readonly hub: SignallingHubService) {}

  @Get('admin/peers')
  @ApiDoc('listPeers', 'Connected signalling peers')
  @Answers(200, 'Every peer connected to `/v1`.', {
    type: 'object',
    required: ['peers'],
    properties: { peers: { type: 'array', items: ref('Peer') } },
  })
  @Unauthorized()
  async list(): Promise<{ peers: PeerInfo[] }> {
    return { peers: await this.hub.peers() };
  }

  @Delete('v1/peers/:id')
  @HttpCode(200)
  @ApiDoc('disconnectPeer', "Disconnect a peer's connections (close code 4020)")
  @ApiParam({ name: 'id', description: 'Peer id.' })
  @Answers(200, 'How many connections were closed.', {
    type: 'object',
    required: ['peerId', 'disconnected'],
    properties: { peerId: { type: 'string' }, disconnected: { type: 'integer' } },
  })
  @Unauthorized()
  @NotFound('connected peer')
  async disconnect(@Param('id') id: string): Promise<{ peerId: string; disconnected: number }> {
    const disconnected = await this.hub.kick(id);
    if (disconnected === 0) throw new NotFoundError('peer_not_found', `Peer ${id} is not connected`);
    return { peerId: id, disconnected };
  }
}
