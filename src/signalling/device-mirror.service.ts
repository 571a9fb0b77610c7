import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { DeviceEvent } from '../bus/device-event';
import { eventJson } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { eventChannel } from '../auth/channel-pattern';
import { DeviceChannels } from '../devices/device-channels';
import { RoomBindingsService } from './room-bindings.service';
import { SignallingHubService } from './signalling-hub.service';

/**
 * The signalling mirror (bridge.md): every committed device event is
 * published as the server on `{prefix}/{type}/{id}/{event}`, on the mapped
 * channels of its device and kind (issue #15), and on the channel of every
 * room bound to a pattern matching that channel; a command also on the
 * device's command channels. The event
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
    private readonly channels: DeviceChannels,
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
        for (const mapped of this.channels.mappedEventChannels(event.device_type, event.device_id, event.event))
          this.hub.publishFromServer(mapped, json);
        if (event.event === 'command') this.command(event);
      } catch (err) {
        this.logger.error(
          `Mirroring event ${event.id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
    }
  }

  /**
   * A command reaches signalling devices (issue #15) on their command
   * channels, as MQTT devices get it on their `cmd` topic: `{command,
   * payload, request_id}`. Every instance has every committed event, so each
   * tells its own subscribers.
   */
  private command(event: DeviceEvent): void {
    const { command, payload, request_id: requestId } = event.data;
    const json = JSON.stringify({ command, payload, request_id: requestId });
    for (const channel of this.channels.channelsOf(event.device_type, event.device_id, 'cmd'))
      this.hub.publishFromServer(channel, json);
  }
}
