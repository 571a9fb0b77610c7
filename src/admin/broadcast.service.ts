import { Injectable } from '@nestjs/common';
import type { DeviceEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';

@Injectable()
export class BroadcastService {
  constructor(private readonly bus: EventBusService) {}

  /** Publishes like an ingested event: logged, given an id, delivered on every transport. */
  broadcast(
    deviceType: string,
    deviceId: string,
    eventType: string,
    data: Record<string, unknown>,
  ): Promise<DeviceEvent> {
    const now = new Date().toISOString();
    return this.bus.publishOne({
      event: eventType,
      device_type: deviceType,
      device_id: deviceId,
      data,
      timestamp: now,
      received_at: now,
    });
  }
}
