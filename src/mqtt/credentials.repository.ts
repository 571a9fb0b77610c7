import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { MqttCredential } from './mqtt-credential.entity';

/** Owns the `mqtt_credentials` table. */
@Injectable()
export class CredentialsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  all(): Promise<MqttCredential[]> {
    return this.db.getRepository(MqttCredential).find();
  }

  /** Inserts, or replaces the row of the same username (rotation). */
  async put(credential: MqttCredential): Promise<void> {
    await this.db.getRepository(MqttCredential).upsert(credential, ['username']);
  }
}
