import { ChannelMatcher, eventChannel } from '../auth/channel-pattern';
import type { DeviceEvent, EventFilter } from '../bus/device-event';
import type { EventPage } from '../bus/event-reader.service';
import type { EventLogRepository } from '../bus/event-log.repository';
import type { ConnectorRecord } from './connector.entity';

/** Rows one read examines at most, so a narrow filter over a long log costs several reads, not one long one. */
const SCAN_ROWS = 10_000;

/**
 * Reads a connector's next batch: rows after the cursor by position alone,
 * `limit` at a time, the connector's filter applied in memory. A plain
 * `id > cursor ORDER BY id` range is the one read that stays an index scan
 * on both stores: PostgreSQL planned `id > $1 AND event IN (…)` as a
 * sequential scan and sort after bulk inserts (41 ms instead of 0.06 ms at
 * 150,000 rows), and EventReaderService.readPage reads 1,000-row pages
 * whenever a filter has an in-memory part, parsing ten times what a batch
 * of 100 needs. The cursor moves over what the filter leaves out, so lag
 * counts positions still to pass. A cursor behind what retention kept
 * reads on from the oldest event kept, with a `reset` to say so.
 */
export async function readBatch(
  log: EventLogRepository,
  filter: EventFilter,
  cursor: number,
  limit: number,
): Promise<EventPage> {
  const pruned = await log.prunedThrough();
  const reset = cursor < pruned ? { reset: { requested: String(cursor), retainedAfter: String(pruned) } } : {};
  let after = Math.max(cursor, pruned);
  const events: DeviceEvent[] = [];
  for (let scanned = 0; scanned < SCAN_ROWS;) {
    const rows = await log.readAfter(after, {}, limit);
    scanned += rows.length;
    for (const event of rows) {
      after = Number(event.id);
      if (filter.allow !== undefined && !filter.allow(event)) continue;
      events.push(event);
      if (events.length >= limit) return { events, cursor: event.id, more: true, ...reset };
    }
    if (rows.length < limit) return { events, cursor: String(after), more: false, ...reset };
  }
  return { events, cursor: String(after), more: true, ...reset };
}

/**
 * The filter of a connector, as one in-memory test over pages read by
 * position alone (readBatch says why).
 */
export function compileFilter(record: Pick<ConnectorRecord, 'filter'>, prefix: string): EventFilter {
  const f = record.filter;
  const matcher = f.channels && f.channels.length > 0 ? new ChannelMatcher(f.channels) : undefined;
  const types = f.event_types ? new Set(f.event_types) : undefined;
  const { device_type: type, device_id: id } = f;
  if (!matcher && !types && type === undefined && id === undefined) return {};
  return {
    allow: (e: DeviceEvent) =>
      (type === undefined || e.device_type === type) &&
      (id === undefined || e.device_id === id) &&
      (types === undefined || types.has(e.event)) &&
      (matcher === undefined || matcher.matches(eventChannel(prefix, e))),
  };
}
