import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../database/transformers';

/** Which events a connector delivers; every field narrows, none means all. */
export interface ConnectorFilter {
  event_types?: string[];
  device_type?: string;
  device_id?: string;
  /** Channel patterns (`{prefix}/{type}/{id}/{event}`, signalling `*` / `**` rules). */
  channels?: string[];
}

/** One data connector (issue #16): definition, durable cursor, delivery lease and figures. */
@Entity('connectors')
export class ConnectorRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ type: 'text' })
  url!: string;

  @Column({ type: 'text', transformer: jsonText })
  filter!: ConnectorFilter;

  @Column({ name: 'batch_size', type: 'integer' })
  batchSize!: number;

  @Column({ name: 'timeout_ms', type: 'integer' })
  timeoutMs!: number;

  @Column({ type: 'text', transformer: jsonText })
  headers!: Record<string, string>;

  /** The HMAC key. Kept as given: signing needs the key itself, so it cannot be hashed. */
  @Column({ type: 'varchar', length: 256 })
  secret!: string;

  @Column({ type: 'boolean' })
  paused!: boolean;

  /** `config` (CONNECTORS) or `admin`. */
  @Column({ type: 'varchar', length: 16 })
  source!: 'config' | 'admin';

  /** Bumped by every change an operator makes: the delivering instance reloads the row when it moves. */
  @Column({ type: 'integer' })
  version!: number;

  /** The last log position acknowledged (or passed over as not matching): delivery resumes after it. */
  @Column({ name: 'cursor_id', type: 'bigint', transformer: bigintNumber })
  cursorId!: number;

  /** Bumped by a replay: a cursor commit made under an older epoch is refused (a fence). */
  @Column({ name: 'cursor_epoch', type: 'integer' })
  cursorEpoch!: number;

  /** The instance delivering this connector, while `lease_until` (database clock, ms) is ahead. */
  @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true })
  leaseOwner!: string | null;

  @Column({ name: 'lease_until', type: 'bigint', transformer: bigintNumber })
  leaseUntil!: number;

  /** Requests answered 2xx. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  deliveries!: number;

  /** Requests that failed (status, timeout, connection). */
  @Column({ type: 'bigint', transformer: bigintNumber })
  failures!: number;

  @Column({ name: 'events_delivered', type: 'bigint', transformer: bigintNumber })
  eventsDelivered!: number;

  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus!: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'last_attempt_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  lastAttemptAt!: number | null;

  @Column({ name: 'last_success_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  lastSuccessAt!: number | null;

  /** The first failure of the current run of failures; null after a success. */
  @Column({ name: 'failing_since', type: 'bigint', nullable: true, transformer: bigintNumber })
  failingSince!: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt!: number;
}
