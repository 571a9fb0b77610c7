import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../database/transformers';

/** One row of the event log. `body` is the event's JSON exactly as clients receive it. */
@Entity('events')
@Index('events_device_idx', ['deviceType', 'deviceId', 'id'])
@Index('events_received_idx', ['receivedAt'])
@Index('events_message_idx', ['messageId', 'deviceType', 'deviceId'], { unique: true, where: 'message_id IS NOT NULL' })
export class EventRecord {
  @PrimaryColumn({ type: 'bigint', transformer: bigintNumber })
  id!: number;

  @Column({ type: 'varchar', length: 64 })
  event!: string;

  @Column({ name: 'device_type', type: 'varchar', length: 128 })
  deviceType!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  /** Server receive time, ms since the epoch: what retention prunes by. */
  @Column({ name: 'received_at', type: 'bigint', transformer: bigintNumber })
  receivedAt!: number;

  @Column({ type: 'text' })
  body!: string;

  /** The device's `message_id`, on the first event of its message only: unique per device (issue #11). */
  @Column({ name: 'message_id', type: 'varchar', length: 128, nullable: true })
  messageId!: string | null;
}

/** Small key/value facts about the log, such as how far retention has pruned. */
@Entity('event_log_meta')
export class EventLogMeta {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  key!: string;

  @Column({ type: 'varchar', length: 255 })
  value!: string;
}
