import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { OutboundCommands } from '../devices/outbound-commands';
import { MqttTransport } from './mqtt-transport';

/** Publishes the commands the devices module sends (`OutboundCommands`) on the device's `cmd` topic, QoS 1. */
@Injectable()
export class MqttCommandsService implements OnModuleInit, OnModuleDestroy {
  private subscription: Subscription | undefined;

  constructor(
    private readonly outbound: OutboundCommands,
    private readonly transport: MqttTransport,
  ) {}

  onModuleInit(): void {
    this.subscription = this.outbound.commands$.subscribe((command) => {
      this.transport.publish(command.topic, command.payload, 1).then(
        () => command.sent(),
        (err: unknown) => command.sent(err instanceof Error ? err : new Error(`publish failed: ${String(err)}`)),
      );
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
