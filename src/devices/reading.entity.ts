import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from '../database/transformers';

/** One sample of one reading. Numbers go in `value`; other JSON values in `textValue`. */
@Entity('readings')
@Index('readings_device_ts_idx', ['deviceType', 'deviceId', 'ts'])
export class Reading {
  @PrimaryGeneratedColumn('increment')
  id!: number;

  @Column({ name: 'device_type', type: 'varchar', length: 128 })
  deviceType!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ type: 'double precision', nullable: true })
  value!: number | null;

  @Column({ name: 'text_value', type: 'text', nullable: true })
  textValue!: string | null;

  /** Sample time, ms since the epoch. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  ts!: number;
}
