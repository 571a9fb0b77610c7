import { InitialSchema1700000000000 } from './1700000000000-initial-schema';
import { EventSequence1700000001000 } from './1700000001000-event-sequence';
import { SignallingRooms1700000004000 } from './1700000004000-signalling-rooms';
import { PollPositions1700000005000 } from './1700000005000-poll-positions';

/** Every migration, oldest first. Both SQLite and PostgreSQL run these; nothing uses `synchronize`. */
export const MIGRATIONS = [
  InitialSchema1700000000000,
  EventSequence1700000001000,
  SignallingRooms1700000004000,
  PollPositions1700000005000,
];
