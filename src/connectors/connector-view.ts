import type { ConnectorRecord } from './connector.entity';
import type { WorkerFigures } from './connector-worker';

/** `ok`, `paused`, `retrying` (failing for less than CONNECTORS_FAILING_AFTER) or `failing`. */
export type ConnectorState = 'ok' | 'paused' | 'retrying' | 'failing';

/** A connector as `GET /admin/connectors` shows it; never its secret. */
export interface ConnectorView {
  name: string;
  url: string;
  event_types?: string[];
  device_type?: string;
  device_id?: string;
  channels?: string[];
  batch_size: number;
  timeout_ms: number;
  /** The names of its custom headers (values are not shown: they often carry credentials). */
  headers: string[];
  paused: boolean;
  source: 'config' | 'admin';
  state: ConnectorState;
  /** Delivery resumes after this event id. */
  cursor: string;
  lag: { events: number; seconds: number };
  deliveries: number;
  failures: number;
  events_delivered: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  last_success_at: string | null;
  failing_since: string | null;
  /** The instance delivering it now (its id), or null while none holds its lease. */
  delivered_by: string | null;
  created_at: string;
  updated_at: string;
}

/** What `POST /admin/connectors/{name}/test` answers. */
export interface TestResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  duration_ms: number;
  delivery_id: string;
}

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export function connectorView(
  row: ConnectorRecord,
  at: { cursor: number; lagEvents: number; lagSeconds: number; failingAfterMs: number; live?: WorkerFigures },
): ConnectorView {
  const figures = at.live ?? row;
  const failingSince = figures.failingSince;
  const state: ConnectorState = row.paused
    ? 'paused'
    : failingSince === null
      ? 'ok'
      : Date.now() - failingSince >= at.failingAfterMs
        ? 'failing'
        : 'retrying';
  return {
    name: row.name,
    url: row.url,
    ...row.filter,
    batch_size: row.batchSize,
    timeout_ms: row.timeoutMs,
    headers: Object.keys(row.headers),
    paused: row.paused,
    source: row.source,
    state,
    cursor: String(at.cursor),
    lag: { events: at.lagEvents, seconds: Math.round(at.lagSeconds * 1000) / 1000 },
    deliveries: row.deliveries,
    failures: row.failures,
    events_delivered: row.eventsDelivered,
    last_status: figures.lastStatus,
    last_error: figures.lastError,
    last_attempt_at: iso(figures.lastAttemptAt),
    last_success_at: iso(figures.lastSuccessAt),
    failing_since: iso(failingSince),
    delivered_by: row.leaseUntil > Date.now() ? row.leaseOwner : null,
    created_at: new Date(row.createdAt).toISOString(),
    updated_at: new Date(row.updatedAt).toISOString(),
  };
}
