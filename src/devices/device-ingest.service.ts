import { Injectable } from '@nestjs/common';
import type { NewEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { DeviceRegistryService } from './device-registry.service';
import { DeviceWriterService } from './device-writer.service';
import { OFFLINE, commandResponseEvent, dataEvent, statusEvent } from './device-events';
import type { IngestMessage, StatusMessage } from './ingest-message';
import { markLocal } from './local-events';

/** Keys of a status event's data that the service sets; a device's own fields of the same name give way. */
const RESERVED_STATUS_KEYS = new Set(['old_status', 'new_status', 'battery_level', 'firmware_version']);

/**
 * Turns parsed device messages into events (bridge.md, "Events"), updates the
 * registry in message order, and publishes all events of one call at once.
 */
@Injectable()
export class DeviceIngestService {
  constructor(
    private readonly bus: EventBusService,
    private readonly registry: DeviceRegistryService,
    private readonly writer: DeviceWriterService,
  ) {}

  async ingest(messages: readonly IngestMessage[]): Promise<void> {
    const events: NewEvent[] = [];
    for (const m of messages) {
      const change = this.registry.record(m);
      const receivedAt = new Date(m.receivedAt).toISOString();
      const origin = { deviceType: m.deviceType, deviceId: m.deviceId, receivedAt };
      switch (m.kind) {
        case 'data':
          if (change.before === OFFLINE) {
            events.push(
              statusEvent({ ...origin, timestamp: receivedAt }, change.before, change.after, { reason: 'activity' }),
            );
          }
          for (const s of m.samples)
            events.push(dataEvent({ ...origin, timestamp: s.timestamp ?? receivedAt }, s.values));
          break;
        case 'status':
          events.push(
            statusEvent(
              { ...origin, timestamp: m.timestamp ?? receivedAt },
              change.before,
              change.after,
              statusDetails(m),
            ),
          );
          break;
        case 'command_response':
          if (change.before === OFFLINE) {
            events.push(
              statusEvent({ ...origin, timestamp: receivedAt }, change.before, change.after, { reason: 'activity' }),
            );
          }
          events.push(
            commandResponseEvent(
              { ...origin, timestamp: m.timestamp ?? receivedAt },
              m.requestId,
              m.error !== undefined ? { error: m.error } : { result: m.result },
            ),
          );
          break;
      }
    }
    if (events.length === 0) return;
    markLocal(events);
    // Readings waiting for the database hold ingestion back (and through it the MQTT client) rather than grow without bound.
    if (!this.writer.hasRoom()) await this.writer.room();
    await this.bus.publish(events);
  }
}

function statusDetails(m: StatusMessage): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  if (m.batteryLevel !== undefined) details.battery_level = m.batteryLevel;
  if (m.firmwareVersion !== undefined) details.firmware_version = m.firmwareVersion;
  for (const [key, value] of Object.entries(m.extra)) if (!RESERVED_STATUS_KEYS.has(key)) details[key] = value;
  return details;
}
