import type { DeviceEvent } from './device-event';
import { CommittedFeed } from './committed-feed';

/** One instance (no REDIS_URL): its committed batches are the whole log, in order as they commit. */
export class InProcessFeed extends CommittedFeed {
  get degraded(): boolean {
    return false;
  }

  offer(batch: readonly DeviceEvent[]): void {
    this.emit(batch);
  }
}
