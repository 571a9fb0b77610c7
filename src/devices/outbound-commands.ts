import { Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';

/** A command on its way to a device's `cmd` topic. */
export interface OutboundCommand {
  topic: string;
  payload: string;
  /** The MQTT side calls this once the broker has the command (QoS 1), with the error when it could not. */
  sent(error?: Error): void;
}

/**
 * Where commands leave for devices (issue #14, item 6): the devices module
 * puts them on `commands$`, and the MQTT module, which imports the devices
 * module for ingestion, publishes them. So devices/ never reaches into
 * mqtt/, and the two modules no longer import each other.
 */
@Injectable()
export class OutboundCommands {
  private readonly outbound = new Subject<OutboundCommand>();

  /** Commands to publish; MqttCommandsService takes them. */
  readonly commands$: Observable<OutboundCommand> = this.outbound.asObservable();

  /** Resolves once the broker has the command; rejects when it could not take it, or when no MQTT side listens. */
  send(topic: string, payload: string): Promise<void> {
    if (!this.outbound.observed) return Promise.reject(new Error('no MQTT connection to publish on'));
    return new Promise<void>((resolve, reject) => {
      this.outbound.next({
        topic,
        payload,
        sent: (error?: Error) => (error === undefined ? resolve() : reject(error)),
      });
    });
  }
}
