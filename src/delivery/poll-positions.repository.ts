import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, LessThan } from 'typeorm';
import { PollPosition } from './poll-position.entity';

/** Owns the `poll_positions` table. */
@Injectable()
export class PollPositionsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async get(clientKey: string, selection: string): Promise<number | undefined> {
    const row = await this.db.getRepository(PollPosition).findOneBy({ clientKey, selection });
    return row?.lastId;
  }

  async save(clientKey: string, selection: string, lastId: number): Promise<void> {
    await this.db
      .getRepository(PollPosition)
      .upsert({ clientKey, selection, lastId, updatedAt: Date.now() }, ['clientKey', 'selection']);
  }

  /** Forgets positions not used since `cutoffMs`; returns how many. */
  async pruneBefore(cutoffMs: number): Promise<number> {
    const result = await this.db.getRepository(PollPosition).delete({ updatedAt: LessThan(cutoffMs) });
    return result.affected ?? 0;
  }
}
