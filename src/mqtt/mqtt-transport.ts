import type { IngestFence } from '../bus/ingest-fence';

/** One MQTT message as ingestion sees it. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** The ingest-lease epoch it came under, when instances take turns ingesting (issue #12). */
  fence?: IngestFence;
}

/**
 * Called once a message is handled: `acknowledge` false means it was not
 * written and must not be acknowledged (its ingest lease ended first).
 */
export type Done = (acknowledge?: boolean) => void;

/** An instance's part in ingestion (issue #12): the only one, one of a share group taking turns by lease, or sharing. */
export interface Ingestion {
  mode: 'alone' | 'lease' | 'shared';
  /** Whether this instance reads device messages from the broker now. */
  ingesting: boolean;
  /** The ingest lease's epoch, while this instance holds it. */
  epoch?: number;
}

/**
 * The one class that owns the MQTT connection (STYLE.md, "Thin edges"): the
 * embedded aedes broker when `MQTT_URL` is unset, an MQTT.js client to an
 * external broker otherwise. Two real implementations, one swap point.
 */
export abstract class MqttTransport {
  /**
   * Starts receiving device messages (`{prefix}/#`). `handler` must call
   * `done` when the message is handled: that is the backpressure point.
   */
  abstract start(handler: (message: InboundMessage, done: Done) => void): Promise<void>;
  /** Publishes to devices (commands). */
  abstract publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  /**
   * Calls `listener` whenever a device connects with its own credentials, so
   * that a device which has not published yet can be commanded (issue #13).
   * Only the embedded broker sees connections; an external one does not say.
   */
  onDeviceConnect(_listener: (deviceType: string, deviceId: string) => void): void {}
  /** This instance's part in ingestion (health). */
  get ingestion(): Ingestion {
    return { mode: 'alone', ingesting: true };
  }
  /** Whether the broker is reachable now (health). */
  abstract get connected(): boolean;
  /** Human-readable addresses devices connect to, for the start-up banner. */
  abstract describe(): { tcp?: string; websocket?: string; tls?: string; secureWebsocket?: string; external?: string };
  abstract stop(): Promise<void>;
}
