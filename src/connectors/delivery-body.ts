import type { DeviceEvent } from '../bus/device-event';
import { eventJson } from '../bus/device-event';
import type { EventPage } from '../bus/event-reader.service';
import type { ConnectorRecord } from './connector.entity';
import { SIGNATURE_HEADER, signatureHeader } from './signature';

/**
 * A delivery's JSON body (README, "Data connectors"):
 * `{"connector", "delivery_id", "events": [...]}` with the events in log
 * order, each as every transport sends it (bridge.md, "Events"), and
 * `"reset": {"requested", "retained_after"}` when the events after the
 * cursor had been pruned (EVENT_RETENTION): a gap is never silent. Each
 * event's JSON is the one the log already made (`eventJson`), not made again.
 */
export function deliveryBody(
  connector: string,
  deliveryId: string,
  events: readonly DeviceEvent[],
  reset?: EventPage['reset'],
): string {
  const head = JSON.stringify({ connector, delivery_id: deliveryId }).slice(0, -1);
  const notice = reset
    ? `,"reset":${JSON.stringify({ requested: reset.requested, retained_after: reset.retainedAfter })}`
    : '';
  return `${head}${notice},"events":[${events.map(eventJson).join(',')}]}`;
}

/** A test delivery (`POST /admin/connectors/{name}/test`): signed like any other, no events, `"test": true`. */
export function testBody(connector: string, deliveryId: string): string {
  return JSON.stringify({ connector, delivery_id: deliveryId, test: true, events: [] });
}

/** The headers of every delivery: the connector's own, then the service's, which they cannot override. */
export function deliveryHeaders(
  record: Pick<ConnectorRecord, 'name' | 'headers' | 'secret'>,
  deliveryId: string,
  body: string,
  nowMs = Date.now(),
): Record<string, string> {
  return {
    ...record.headers,
    'content-type': 'application/json',
    'user-agent': 'DeviceHub-Bridge-Connector',
    'devicehub-connector': record.name,
    'devicehub-delivery': deliveryId,
    [SIGNATURE_HEADER]: signatureHeader(record.secret, body, Math.floor(nowMs / 1000)),
  };
}
