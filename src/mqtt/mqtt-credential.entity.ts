import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../database/transformers';

/** Embedded-broker credentials of one device or gateway; the password is stored only as a hash. */
@Entity('mqtt_credentials')
export class MqttCredential {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  username!: string;

  /** `scrypt$salt$hash`, base64url parts. */
  @Column({ name: 'password_hash', type: 'text' })
  passwordHash!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: 'device' | 'gateway';

  @Column({ name: 'device_type', type: 'varchar', length: 128, nullable: true })
  deviceType!: string | null;

  @Column({ name: 'device_id', type: 'varchar', length: 128, nullable: true })
  deviceId!: string | null;

  /** MQTT topic filters a gateway may publish and subscribe under. */
  @Column({ type: 'text', nullable: true, transformer: jsonText })
  topics!: string[] | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt!: number;
}
