import { Injectable } from '@nestjs/common';
import type { NewEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import type { IngestFence } from '../bus/ingest-fence';
import { isoTime } from '../common/iso-time';
import { nameMap } from '../common/name-map';
import { DeviceRegistryService } from './device-registry.service';
import { DeviceWriterService } from './device-writer.service';
import { OFFLINE, ONLINE, PROVISIONING, commandResponseEvent, dataEvent, statusEvent } from './device-events';
import type { Origin } from './device-events';
import type { IngestMessage, StatusMessage } from './ingest-message';

/** Keys of a status event's data that the service sets; a device's own fields of the same name give way. */
const RESERVED_STATUS_KEYS = new Set(['old_status', 'new_status', 'battery_level', 'firmware_version']);

/** A device's status before one message and the status the message leaves it in. */
interface StatusChange {
  before: string | null;
  after: string;
}

/**
 * Turns parsed device messages into events (bridge.md, "Events"), judging
 * each by the device's state with the messages before it applied
 * (`DeviceRegistryService.current`), and publishes all events of one call at once.
 */
@Injectable()
export class DeviceIngestService {
  constructor(
    private readonly bus: EventBusService,
    private readonly registry: DeviceRegistryService,
    private readonly writer: DeviceWriterService,
  ) {}

  /** Ingests the messages; resolves once their events are in the log. */
  async ingest(messages: readonly IngestMessage[]): Promise<void> {
    const { written, failed } = await this.enqueue(messages);
    await written;
    if (failed.length > 0) throw failed[0].error;
  }

  /**
   * A device the bridge has never heard of becomes known, `provisioning`,
   * when its credentials are minted, so that it can be commanded before it
   * first publishes (issue #13). A known device keeps its status.
   */
  async provisioned(deviceType: string, deviceId: string, reason = 'credentials_minted'): Promise<void> {
    if (this.registry.currentStatus(deviceType, deviceId) !== undefined) return;
    await this.ingest([serviceStatus(deviceType, deviceId, PROVISIONING, reason)]);
  }

  /**
   * A device that connects to the embedded broker with its own credentials
   * (or to signalling with its device token, issue #15) is `online`, unless
   * it is known with a status of its own (`error`, `maintenance`, …), which
   * only the device changes.
   */
  async connected(deviceType: string, deviceId: string): Promise<void> {
    const status = this.registry.currentStatus(deviceType, deviceId);
    if (status !== undefined && status !== OFFLINE && status !== PROVISIONING) return;
    await this.ingest([serviceStatus(deviceType, deviceId, ONLINE, 'connected')]);
  }

  /**
   * A device's signalling connection closed (issue #15): `offline`, as the
   * last will `{"status": "offline"}` of an MQTT device says, with the reason.
   */
  async disconnected(deviceType: string, deviceId: string): Promise<void> {
    const status = this.registry.currentStatus(deviceType, deviceId);
    if (status === undefined || status === OFFLINE) return;
    await this.ingest([serviceStatus(deviceType, deviceId, OFFLINE, 'disconnected')]);
  }

  /**
   * Ingests the messages and resolves once their events are queued on the
   * bus, so that the next messages can be ingested while these are written;
   * `written` resolves once they are in the log. A message that cannot be
   * turned into events (a bug) costs itself only: it is left out, and named
   * in `failed` by its index so the caller can count it (issue #18).
   */
  async enqueue(
    messages: readonly IngestMessage[],
    fence?: IngestFence,
  ): Promise<{ written: Promise<unknown>; failed: { index: number; error: unknown }[] }> {
    const events: NewEvent[] = [];
    const failed: { index: number; error: unknown }[] = [];
    messages.forEach((m, index) => {
      const before = events.length;
      try {
        this.eventsOf(m, events);
      } catch (error) {
        events.length = before;
        failed.push({ index, error });
        return;
      }
      // The next message is judged with this one's events applied.
      this.registry.project(events, before);
    });
    if (events.length === 0) return { written: Promise.resolve(), failed };
    try {
      // Readings waiting for the database hold ingestion back (and through it the MQTT client) rather than grow without bound.
      if (!this.writer.hasRoom()) await this.writer.room();
      const queued = await this.bus.enqueue(events, fence);
      this.registry.track(events, queued.written);
      return { ...queued, failed };
    } catch (err) {
      this.registry.track(events, Promise.reject(err instanceof Error ? err : new Error(String(err))));
      throw err;
    }
  }

  /** Appends the events of one message, as the device's current state makes them. */
  private eventsOf(m: IngestMessage, events: NewEvent[]): void {
    const change = statusChange(m, this.registry.currentStatus(m.deviceType, m.deviceId) ?? null);
    const receivedAt = isoTime(m.receivedAt);
    // One origin per message, its timestamp set per event: the event constructors copy its fields.
    const origin = {
      deviceType: m.deviceType,
      deviceId: m.deviceId,
      receivedAt,
      timestamp: receivedAt,
      messageId: m.messageId,
    };
    switch (m.kind) {
      case 'data': {
        if (change.before === OFFLINE) events.push(activityStatus(origin, change));
        const opened = events.length;
        for (const s of m.samples) {
          origin.timestamp = s.timestamp ?? receivedAt;
          events.push(dataEvent(origin, s.values));
        }
        if (m.messageId !== undefined && events.length > opened) events[opened].opensMessage = true;
        break;
      }
      case 'status':
        events.push(
          opening(
            m,
            statusEvent(
              { ...origin, timestamp: m.timestamp ?? receivedAt },
              change.before,
              change.after,
              statusDetails(m),
            ),
          ),
        );
        break;
      case 'command_response':
        if (change.before === OFFLINE) events.push(activityStatus(origin, change));
        events.push(
          opening(
            m,
            commandResponseEvent(
              { ...origin, timestamp: m.timestamp ?? receivedAt },
              m.requestId,
              m.error !== undefined ? { error: m.error } : { result: m.result },
            ),
          ),
        );
        break;
    }
  }
}

/** A status message sets the status; any other message brings an offline device back online. */
function statusChange(m: IngestMessage, before: string | null): StatusChange {
  if (m.kind === 'status') return { before, after: m.status };
  return { before, after: before === null || before === OFFLINE ? ONLINE : before };
}

/** A device heard again after being offline; the registry's news, not the message's, so without message_id. */
function activityStatus(origin: Origin, change: StatusChange): NewEvent {
  return statusEvent({ ...origin, messageId: undefined }, change.before, change.after, { reason: 'activity' });
}

/** The one event of a message that carried `message_id` opens (and is) that message in the log. */
function opening(m: IngestMessage, event: NewEvent): NewEvent {
  if (m.messageId !== undefined) event.opensMessage = true;
  return event;
}

/** A status the service sets for a device, with the reason in the event's data. */
function serviceStatus(deviceType: string, deviceId: string, status: string, reason: string): StatusMessage {
  return { kind: 'status', deviceType, deviceId, receivedAt: Date.now(), status, extra: { reason } };
}

function statusDetails(m: StatusMessage): Record<string, unknown> {
  const details = nameMap<unknown>();
  if (m.batteryLevel !== undefined) details.battery_level = m.batteryLevel;
  if (m.firmwareVersion !== undefined) details.firmware_version = m.firmwareVersion;
  for (const [key, value] of Object.entries(m.extra)) if (!RESERVED_STATUS_KEYS.has(key)) details[key] = value;
  return details;
}
