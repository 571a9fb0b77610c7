import { Body, Controller, Delete, Get, HttpCode, Param, Put, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import type { RoomBindingView } from './room-bindings.service';
import type { RoomBody } from './rooms.dto';
import { ROOM_BODY } from './rooms.dto';
import { RoomBindingsService } from './room-bindings.service';
import {
  AdminAuth,
  Answers,
  ApiDoc,
  ApiParam,
  ApiTags,
  Invalid,
  NotFound,
  ref,
  Unauthorized,
} from '../docs/api-docs.decorators';

const ROOM = { name: 'room', description: 'Room name.', example: 'lobby' };

/** Room bindings (bridge.md, "Signalling mirror"): device events matching the patterns go to the room. */
@Controller('admin/rooms')
@UseGuards(AdminGuard)
@ApiTags('signalling')
@AdminAuth()
export class RoomsController {
  constructor(private readonly rooms: RoomBindingsService) {}

  @Get()
  @ApiDoc('listRooms', 'Room bindings: device events matching the patterns are published on the room')
  @Answers(200, 'Every binding.', {
    type: 'object',
    required: ['rooms'],
    properties: { rooms: { type: 'array', items: ref('RoomBinding') } },
  })
  @Unauthorized()
  list(): { rooms: RoomBindingView[] } {
    return { rooms: this.rooms.list() };
  }

  @Put(':room')
  @ApiDoc('putRoom', 'Bind a room to device channel patterns')
  @ApiParam(ROOM)
  @Answers(200, 'The binding.', ref('RoomBinding'))
  @Invalid()
  @Unauthorized()
  put(@Param('room') room: string, @Body({ schema: ROOM_BODY }) body: RoomBody): Promise<RoomBindingView> {
    return this.rooms.put(room, body.channels);
  }

  @Delete(':room')
  @HttpCode(204)
  @ApiDoc('deleteRoom', 'Remove a room binding')
  @ApiParam(ROOM)
  @Answers(204, 'Removed.')
  @Invalid()
  @Unauthorized()
  @NotFound('room binding')
  async delete(@Param('room') room: string): Promise<void> {
    await this.rooms.delete(room);
  }
}
