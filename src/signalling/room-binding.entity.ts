import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../database/transformers';

/** A room bound by `PUT /admin/rooms/{room}`: device channel patterns whose events go to the room. */
@Entity('signalling_rooms')
export class RoomBinding {
  /** The room's channel (at most 256 bytes). */
  @PrimaryColumn({ type: 'varchar', length: 256 })
  room!: string;

  /** Device channel patterns, JSON. */
  @Column({ type: 'text', transformer: jsonText })
  channels!: string[];

  /** ms since the epoch. */
  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt!: number;
}
