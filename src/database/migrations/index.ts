import { InitialSchema1700000000000 } from './1700000000000-initial-schema';
import { EventSequence1700000001000 } from './1700000001000-event-sequence';
import { SignallingRooms1700000004000 } from './1700000004000-signalling-rooms';
import { PollPositions1700000005000 } from './1700000005000-poll-positions';
import { ReadingsDeviceKey1700000006000 } from './1700000006000-readings-device-key';
import { PostgresAppendIndexes1700000007000 } from './1700000007000-postgres-append-indexes';
import { EventMessageIds1700000008000 } from './1700000008000-event-message-ids';
import { ReadingBatches1700000009000 } from './1700000009000-reading-batches';
import { Connectors1700000010000 } from './1700000010000-connectors';
import { IngestLeases1700000012000 } from './1700000012000-ingest-leases';
import { DevicesProjection1700000013000 } from './1700000013000-devices-projection';
import { SqliteRowidKeys1700000014000 } from './1700000014000-sqlite-rowid-keys';

/** Every migration, oldest first. Both SQLite and PostgreSQL run these; nothing uses `synchronize`. */
export const MIGRATIONS = [
  InitialSchema1700000000000,
  EventSequence1700000001000,
  SignallingRooms1700000004000,
  PollPositions1700000005000,
  ReadingsDeviceKey1700000006000,
  PostgresAppendIndexes1700000007000,
  EventMessageIds1700000008000,
  ReadingBatches1700000009000,
  Connectors1700000010000,
  IngestLeases1700000012000,
  DevicesProjection1700000013000,
  SqliteRowidKeys1700000014000,
];
