import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../database/transformers';

/** The registry row of one device (bridge.md, "REST and admin"). */
@Entity('devices')
export class Device {
  @PrimaryColumn({ name: 'device_type', type: 'varchar', length: 128 })
  deviceType!: string;

  @PrimaryColumn({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  /** online, offline, error, maintenance, low_battery, provisioning. */
  @Column({ type: 'varchar', length: 32 })
  status!: string;

  /** ms since the epoch. */
  @Column({ name: 'first_seen', type: 'bigint', transformer: bigintNumber })
  firstSeen!: number;

  /** ms since the epoch of the last message from the device. */
  @Column({ name: 'last_seen', type: 'bigint', transformer: bigintNumber })
  lastSeen!: number;

  @Column({ name: 'battery_level', type: 'double precision', nullable: true })
  batteryLevel!: number | null;

  @Column({ name: 'firmware_version', type: 'varchar', length: 64, nullable: true })
  firmwareVersion!: string | null;

  /** Latest value and time of each reading: `{name: {value, timestamp}}`; in the registry a prototype-free `nameMap`. */
  @Column({ name: 'latest_readings', type: 'text', transformer: jsonText })
  latestReadings!: Record<string, { value: unknown; timestamp: string }>;
}
