import { Logger } from '@nestjs/common';
import type { RedisRepository } from '../cluster/redis.repository';
import type { DeviceEvent } from './device-event';
import { eventJson } from './device-event';
import { CommittedFeed } from './committed-feed';
import type { EventLogRepository } from './event-log.repository';
import { OrderedMerge } from './ordered-merge';

/** Redis channel (in the deployment's namespace) on which instances announce committed batches. */
const EVENTS_CHANNEL = 'events';
/** While Redis is down, how often the log is checked for other instances' events. */
const LOG_POLL_MS = 250;
/** Rows per read when the merge fills a gap from the log. */
const READ_PAGE = 1000;

/**
 * Several instances sharing one PostgreSQL log (issue #5): each announces
 * its committed batches on Redis, and every instance merges its own and the
 * others' batches back into id order (OrderedMerge), reading from the log
 * whatever Redis did not bring: after a reconnect, and every LOG_POLL_MS
 * while Redis is down. See docs/architecture.md.
 */
export class RedisFeed extends CommittedFeed {
  private readonly logger = new Logger(RedisFeed.name);
  private merge: OrderedMerge | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(
    log: EventLogRepository,
    private readonly redis: RedisRepository,
  ) {
    super(log);
  }

  get degraded(): boolean {
    return !this.redis.connected;
  }

  override async start(): Promise<void> {
    await super.start();
    const merge = new OrderedMerge(
      this.lastDelivered,
      (batch) => this.emit(batch),
      (after, through) => this.log.readRange(after, through, READ_PAGE),
      (err) => this.logger.warn(`Reading missed events from the log failed: ${String(err)}`),
    );
    this.merge = merge;
    await this.redis.subscribe(this.redis.key(EVENTS_CHANNEL), (message) =>
      merge.offer(JSON.parse(message.toString()) as DeviceEvent[]),
    );
    this.redis.onReconnect(() => void this.catchUpFromLog());
    try {
      await this.redis.connect();
    } catch (err) {
      this.logger.warn(
        `Redis unreachable at start-up; reading other instances' events from the log until it is back: ${String(err)}`,
      );
    }
    // While Redis is down, other instances' events are still found in the log.
    this.pollTimer = setInterval(() => {
      if (!this.redis.connected) void this.catchUpFromLog();
    }, LOG_POLL_MS);
    this.pollTimer.unref();
  }

  offer(batch: readonly DeviceEvent[]): void {
    this.redis.publish(this.redis.key(EVENTS_CHANNEL), `[${batch.map(eventJson).join(',')}]`);
    this.merge?.offer(batch);
  }

  override stop(): void {
    clearInterval(this.pollTimer);
    this.merge?.stop();
    super.stop();
  }

  private async catchUpFromLog(): Promise<void> {
    try {
      this.merge?.catchUp(await this.log.lastId());
    } catch {
      // The database is down too; health says so, and the next tick retries.
    }
  }
}
