import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from '../database/transformers';

/**
 * One sample of one reading. Numbers go in `value`; other JSON values in
 * `textValue`. The device is `devices.device_key` (DevicesRepository).
 */
@Entity('readings')
@Index('readings_device_ts_idx', ['deviceKey', 'ts'])
export class Reading {
  @PrimaryGeneratedColumn('increment')
  id!: number;

  @Column({ name: 'device_key', type: 'integer' })
  deviceKey!: number;

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
