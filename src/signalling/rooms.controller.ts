import { Body, Controller, Delete, Get, HttpCode, Param, Put, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { InvalidRequestError } from '../common/domain-error';
import type { RoomBindingView } from './room-bindings.service';
import { RoomBindingsService } from './room-bindings.service';

/** Room bindings (bridge.md, "Signalling mirror"): device events matching the patterns go to the room. */
@Controller('admin/rooms')
@UseGuards(AdminGuard)
export class RoomsController {
  constructor(private readonly rooms: RoomBindingsService) {}

  @Get()
  list(): { rooms: RoomBindingView[] } {
    return { rooms: this.rooms.list() };
  }

  @Put(':room')
  put(@Param('room') room: string, @Body() body: unknown): Promise<RoomBindingView> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new InvalidRequestError({ body: 'must be a JSON object' });
    return this.rooms.put(room, (body as { channels?: unknown }).channels);
  }

  @Delete(':room')
  @HttpCode(204)
  async delete(@Param('room') room: string): Promise<void> {
    await this.rooms.delete(room);
  }
}
