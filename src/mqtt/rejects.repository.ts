import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Reject } from './reject.entity';

/** Owns the `rejects` table. */
@Injectable()
export class RejectsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** One statement for the whole batch. */
  async insert(rows: Omit<Reject, 'id'>[]): Promise<void> {
    if (rows.length > 0) await this.db.getRepository(Reject).insert(rows);
  }

  /** Keeps the newest `keep` rows. */
  async prune(keep: number): Promise<void> {
    await this.db
      .createQueryBuilder()
      .delete()
      .from(Reject)
      .where(`id <= (SELECT MAX(r.id) FROM rejects r) - :keep`, { keep })
      .execute();
  }

  /** Newest first. */
  list(limit: number, reason?: string): Promise<Reject[]> {
    return this.db.getRepository(Reject).find({
      where: reason === undefined ? {} : { reason },
      order: { id: 'DESC' },
      take: limit,
    });
  }
}
