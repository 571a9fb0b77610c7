import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { RoomBinding } from './room-binding.entity';

/** Owns the `signalling_rooms` table. */
@Injectable()
export class RoomBindingRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  all(): Promise<RoomBinding[]> {
    return this.db.getRepository(RoomBinding).find({ order: { room: 'ASC' } });
  }

  /** The binding of one room: none or one row. */
  find(room: string): Promise<RoomBinding[]> {
    return this.db.getRepository(RoomBinding).find({ where: { room } });
  }

  async save(room: string, channels: string[]): Promise<void> {
    // One statement: save() would open a transaction of its own beside BridgeDataSource's SQLite queue.
    await this.db.getRepository(RoomBinding).upsert({ room, channels, updatedAt: Date.now() }, ['room']);
  }

  /** True when the room was there. */
  async delete(room: string): Promise<boolean> {
    const result = await this.db.getRepository(RoomBinding).delete({ room });
    return (result.affected ?? 0) > 0;
  }
}
