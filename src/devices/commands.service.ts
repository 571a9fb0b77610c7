import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { ChannelMatcher } from '../auth/channel-pattern';
import type { ClientClaims } from '../auth/token.service';
import type { DeviceEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { DomainError, NotFoundError } from '../common/domain-error';
import { DeviceTypes } from '../config/device-types';
import { DeviceRegistryService } from './device-registry.service';
import type { CommandSource } from './device-events';
import { commandEvent } from './device-events';
import { DevicesService } from './devices.service';
import { OutboundCommands } from './outbound-commands';

/** Longest wait for a device's answer (seconds). */
export const MAX_COMMAND_TIMEOUT_SEC = 300;
/** Commands waiting for an answer at once, across all senders. */
export const MAX_WAITING_COMMANDS = 10_000;

/** What became of a command. */
export type CommandOutcome =
  | { kind: 'sent'; requestId: string }
  /** The device's `cmd/response`: `{result}` or `{error}` as it sent it. */
  | { kind: 'answered'; requestId: string; answer: Record<string, unknown> }
  | { kind: 'timeout'; requestId: string };

/** Who sends: the admin credential, or a client token (which needs `publish` and the device's `cmd` channel). */
export type CommandSender = { kind: 'admin' } | { kind: 'client'; claims: ClientClaims };

interface Waiting {
  deviceType: string;
  deviceId: string;
  resolve: (outcome: CommandOutcome) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class InvalidCommandError extends DomainError {
  constructor(readonly problems: string[]) {
    super('invalid_command', problems.join('; '), 400, problemFields(problems));
  }
}

/**
 * DeviceTypes names payload fields first (`interval: 0 is outside [1, 3600]`):
 * those become `payload.interval`; the rest is about the command itself.
 */
function problemFields(problems: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const problem of problems) {
    const match = /^([^\s:]+): (.*)$/s.exec(problem);
    const field = match === null ? 'command' : match[1] === 'payload' ? 'payload' : `payload.${match[1]}`;
    const why = match === null ? problem : match[2];
    fields[field] = fields[field] === undefined ? why : `${fields[field]}; ${why}`;
  }
  return fields;
}

/**
 * Commands to devices (issue #2, "Commands"): validated against the device
 * type, published as a `command` event and on `{prefix}/{type}/{id}/cmd`
 * (QoS 1), and optionally awaited until the matching `command_response`.
 */
@Injectable()
export class CommandsService implements OnModuleInit, OnModuleDestroy {
  private readonly waiting = new Map<string, Waiting>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly bus: EventBusService,
    private readonly outbound: OutboundCommands,
    private readonly deviceTypes: DeviceTypes,
    private readonly registry: DeviceRegistryService,
    private readonly devices: DevicesService,
  ) {}

  /** One subscription serves every waiting command: a map lookup per response, whatever the number waiting. */
  onModuleInit(): void {
    this.subscription = this.bus.live({ eventTypes: ['command_response'] }).subscribe((event) => this.answer(event));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    for (const [requestId, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new DomainError('shutting_down', `The service stopped before request ${requestId} was answered`, 503));
    }
    this.waiting.clear();
  }

  /** `send` on behalf of a REST caller, after checking that this sender may command this device. */
  async sendAs(
    sender: CommandSender,
    deviceType: string,
    deviceId: string,
    command: string,
    payload: Record<string, unknown>,
    timeoutSec?: number,
    source: CommandSource = 'rest',
  ): Promise<CommandOutcome> {
    if (sender.kind === 'client') {
      // Device and gateway tokens (issue #15) answer commands; they do not send them.
      if (sender.claims.role !== undefined)
        throw new DomainError('forbidden', `A ${sender.claims.role} token does not send commands`, 403);
      // Unknown to this token first (404, as for reads), then not allowed to command it (403).
      this.devices.visibleDevice(sender.claims, deviceType, deviceId);
      const channel = this.devices.commandChannel(deviceType, deviceId);
      if (
        !sender.claims.permissions.includes('publish') ||
        !new ChannelMatcher(sender.claims.channels).matches(channel)
      ) {
        throw new DomainError(
          'forbidden',
          `Sending commands needs the publish permission and channel ${channel} in the token`,
          403,
        );
      }
    }
    return this.send(deviceType, deviceId, command, payload, timeoutSec, source);
  }

  /**
   * Sends a command to a registered device. Without `timeoutSec` it resolves
   * once the command is published; with it, once the device answers or the
   * time is up. Throws `unknown_device` (404) and `invalid_command` (400).
   * `source` goes into the command event, for the device's command history.
   */
  async send(
    deviceType: string,
    deviceId: string,
    command: string,
    payload: Record<string, unknown>,
    timeoutSec?: number,
    source: CommandSource = 'rest',
  ): Promise<CommandOutcome> {
    // Known once its first message is on its way to the log.
    if (this.registry.current(deviceType, deviceId) === undefined) {
      throw new NotFoundError('unknown_device', `No device ${deviceType}/${deviceId}`);
    }
    const problems = this.deviceTypes.validateCommand(deviceType, command, payload);
    if (problems.length > 0) throw new InvalidCommandError(problems);
    if (timeoutSec !== undefined && !(timeoutSec > 0 && timeoutSec <= MAX_COMMAND_TIMEOUT_SEC)) {
      throw new DomainError(
        'invalid_request',
        `timeout: must be a number of seconds up to ${MAX_COMMAND_TIMEOUT_SEC}`,
        400,
        {
          timeout: `must be a number of seconds up to ${MAX_COMMAND_TIMEOUT_SEC}`,
        },
      );
    }
    if (timeoutSec !== undefined && this.waiting.size >= MAX_WAITING_COMMANDS) {
      throw new DomainError(
        'too_many_commands',
        `${MAX_WAITING_COMMANDS} commands are already waiting for answers`,
        503,
      );
    }

    const requestId = randomUUID();
    // Waiting starts before the command leaves, so even an instant answer is caught.
    const answered =
      timeoutSec === undefined ? undefined : this.await(requestId, deviceType, deviceId, timeoutSec * 1000);
    // A shutdown may reject it before it is returned to the caller; that must not count as unhandled.
    answered?.catch(() => undefined);
    try {
      const now = new Date().toISOString();
      // The event goes into the log first, so that it precedes the device's answer there.
      await this.bus.publishOne(
        commandEvent(
          { deviceType, deviceId, timestamp: now, receivedAt: now },
          requestId,
          command,
          payload,
          source,
          timeoutSec,
        ),
      );
      await this.outbound
        .send(
          this.devices.commandChannel(deviceType, deviceId),
          JSON.stringify({ command, payload, request_id: requestId }),
        )
        .catch((err: unknown) => {
          throw new DomainError('broker_unavailable', `The command could not be published: ${String(err)}`, 503);
        });
    } catch (err) {
      this.forget(requestId);
      throw err;
    }
    return answered ?? { kind: 'sent', requestId };
  }

  private await(requestId: string, deviceType: string, deviceId: string, timeoutMs: number): Promise<CommandOutcome> {
    return new Promise<CommandOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        resolve({ kind: 'timeout', requestId });
      }, timeoutMs);
      this.waiting.set(requestId, { deviceType, deviceId, resolve, reject, timer });
    });
  }

  private forget(requestId: string): void {
    const w = this.waiting.get(requestId);
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.waiting.delete(requestId);
  }

  private answer(event: DeviceEvent): void {
    const requestId = event.data.request_id;
    if (typeof requestId !== 'string') return;
    const w = this.waiting.get(requestId);
    // Only the commanded device may answer its request.
    if (w === undefined || w.deviceType !== event.device_type || w.deviceId !== event.device_id) return;
    this.forget(requestId);
    const { request_id: _id, ...answer } = event.data;
    w.resolve({ kind: 'answered', requestId, answer });
  }
}
