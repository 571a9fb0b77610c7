import { Controller, Delete, Get, HttpCode, Param, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { NotFoundError } from '../common/domain-error';
import type { PeerInfo } from './peer-info';
import { SignallingHubService } from './signalling-hub.service';

/** Connected signalling peers, on every instance: list them, disconnect one (close 4020). */
@Controller()
@UseGuards(AdminGuard)
export class PeersController {
  constructor(private readonly hub: SignallingHubService) {}

  @Get('admin/peers')
  async list(): Promise<{ peers: PeerInfo[] }> {
    return { peers: await this.hub.peers() };
  }

  @Delete('v1/peers/:id')
  @HttpCode(200)
  async disconnect(@Param('id') id: string): Promise<{ peerId: string; disconnected: number }> {
    const disconnected = await this.hub.kick(id);
    if (disconnected === 0) throw new NotFoundError('peer_not_found', `Peer ${id} is not connected`);
    return { peerId: id, disconnected };
  }
}
