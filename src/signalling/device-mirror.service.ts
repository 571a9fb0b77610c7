import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { DeviceEvent } from '../bus/device-event';
import { eventJson } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { eventChannel } from '../auth/channel-pattern';
import { RoomBindingsService } from './room-bindings.service';
import { SignallingHubService } from './signalling-hub.service';

/**
 * The signalling mirror (bridge.md): every committed device event is
 * published as the server on `{prefix}/{type}/{id}/{event}`, and on the
 * channel of every room bound to a pattern matching that channel. The event
 * object is the `data`, taken from its cached JSON; each frame is encoded
 * once per channel and only when someone is subscribed.
 */
@Injectable()
export class DeviceMirrorService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Signalling');
  private subscription: Subscription | undefined;

  constructor(
    private readonly bus: EventBusService,
    private readonly hub: SignallingHubService,
    private readonly rooms: RoomBindingsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // Whole batches: one callback per log commit rather than one per event.
    this.subscription = this.bus.batches$.subscribe((batch) => this.mirror(batch));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  mirror(batch: readonly DeviceEvent[]): void {
    const prefix = this.config.mqtt.topicPrefix;
    for (const event of batch) {
      try {
        const channel = eventChannel(prefix, event);
        const json = eventJson(event);
        this.hub.publishFromServer(channel, json);
        this.rooms.roomsFor(channel, (room) => this.hub.publishFromServer(room, json));
      } catch (err) {
        this.logger.error(
          `Mirroring event ${event.id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
    }
  }
}
