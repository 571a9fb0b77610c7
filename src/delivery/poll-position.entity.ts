import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../database/transformers';

/**
 * Where a polling client left off on one path (issue #3: "with no cursor,
 * the events since this client's previous poll of that path"). Kept in the
 * database, so it survives restarts and holds whichever instance answers.
 */
@Entity('poll_positions')
export class PollPosition {
  /** Who polls: `client_id=`, the token's `sub`, or the `poll_client` cookie (see PollService). */
  @PrimaryColumn({ name: 'client_key', type: 'varchar', length: 200 })
  clientKey!: string;

  /** What it polls: the device selection and its event types. */
  @PrimaryColumn({ name: 'selection', type: 'varchar', length: 400 })
  selection!: string;

  /** The cursor the last answer gave. */
  @Column({ name: 'last_id', type: 'bigint', transformer: bigintNumber })
  lastId!: number;

  /** ms since the epoch; positions untouched for EVENT_RETENTION are forgotten. */
  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt!: number;
}
