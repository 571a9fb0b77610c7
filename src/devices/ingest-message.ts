/**
 * What the MQTT router hands the device service: a device message parsed and
 * validated, before it becomes events (bridge.md, "MQTT (devices)").
 */
export type IngestMessage = DataMessage | StatusMessage | CommandResponseMessage;

interface FromDevice {
  deviceType: string;
  deviceId: string;
  /** Server receive time, ms since the epoch. */
  receivedAt: number;
  /** The device's `message_id` for this message, when it sent one (issue #11). */
  messageId?: string;
}

/** One or more samples (`data`: flat, readings list, or batch). */
export interface DataMessage extends FromDevice {
  kind: 'data';
  samples: {
    /** Device time (ISO 8601) when the sample carried one. */
    timestamp?: string;
    values: Record<string, unknown>;
  }[];
}

/** A `status` message, also a last will. */
export interface StatusMessage extends FromDevice {
  kind: 'status';
  status: string;
  timestamp?: string;
  batteryLevel?: number;
  firmwareVersion?: string;
  /** Every other field the device sent, passed on in the event's data. */
  extra: Record<string, unknown>;
}

/** A `cmd/response` message. */
export interface CommandResponseMessage extends FromDevice {
  kind: 'command_response';
  requestId: string;
  result?: unknown;
  error?: string;
  timestamp?: string;
}
