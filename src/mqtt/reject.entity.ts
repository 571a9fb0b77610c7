import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from '../database/transformers';

/** A message ingestion refused, kept for inspection (`GET /admin/rejects`). */
@Entity('rejects')
@Index('rejects_received_idx', ['receivedAt'])
export class Reject {
  @PrimaryGeneratedColumn('increment')
  id!: number;

  @Column({ name: 'received_at', type: 'bigint', transformer: bigintNumber })
  receivedAt!: number;

  @Column({ type: 'text' })
  topic!: string;

  @Column({ type: 'varchar', length: 32 })
  reason!: string;

  @Column({ type: 'text' })
  detail!: string;

  /** The raw payload, cut to a cap (UTF-8 text, or base64 when it is not). */
  @Column({ type: 'text' })
  payload!: string;

  @Column({ name: 'payload_encoding', type: 'varchar', length: 8 })
  payloadEncoding!: 'utf8' | 'base64';

  @Column({ name: 'payload_size', type: 'integer' })
  payloadSize!: number;
}
