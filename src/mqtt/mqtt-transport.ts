/** One MQTT message as ingestion sees it. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
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
  abstract start(handler: (message: InboundMessage, done: () => void) => void): Promise<void>;
  /** Publishes to devices (commands). */
  abstract publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  /**
   * Calls `listener` whenever a device connects with its own credentials, so
   * that a device which has not published yet can be commanded (issue #13).
   * Only the embedded broker sees connections; an external one does not say.
   */
  onDeviceConnect(_listener: (deviceType: string, deviceId: string) => void): void {}
  /** Whether the broker is reachable now (health). */
  abstract get connected(): boolean;
  /** Human-readable addresses devices connect to, for the start-up banner. */
  abstract describe(): { tcp?: string; websocket?: string; tls?: string; secureWebsocket?: string; external?: string };
  abstract stop(): Promise<void>;
}
