/**
 * The typed, validated configuration handed to every module. Built once at
 * start-up by `loadConfig` from the environment (bridge.md, "Running"); nothing
 * else reads `process.env`.
 */
import type { JsonLimits } from '../common/json-limits';

export const APP_CONFIG = Symbol('APP_CONFIG');

export type DatabaseConfig =
  | {
      type: 'sqlite';
      /** File path, or `:memory:`. @default `./data/devicehub.sqlite` */
      path: string;
    }
  | {
      type: 'postgres';
      /** `postgres://…` connection URL. */
      url: string;
    };

/** What a mapped signalling channel carries for its device (issue #15): as the MQTT topic of that kind. */
export const DEVICE_CHANNEL_KINDS = ['data', 'status', 'cmd', 'cmd/response'] as const;
export type DeviceChannelKind = (typeof DEVICE_CHANNEL_KINDS)[number];

/**
 * An operator's own channel layout mapped onto devices (`SIGNALLING_DEVICE_CHANNELS`):
 * `fleet/{id}/telemetry` → type `sensor`, kind `data`. Placeholders are whole
 * channel levels: `{id}` once, `{type}` at most once (and then no `type`).
 */
export interface DeviceChannelMapping {
  template: string;
  /** The device type of every channel of the template; unset when the template has `{type}`. */
  type?: string;
  kind: DeviceChannelKind;
}

export const SQLITE_SYNCHRONOUS = ['full', 'normal'] as const;
export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS)[number];

export const CLIENT_CERT_MODES = ['off', 'optional', 'required'] as const;
export type ClientCertMode = (typeof CLIENT_CERT_MODES)[number];

/** The embedded broker's TLS listener; the files are read again whenever they change. */
export interface BrokerTlsConfig {
  /** `MQTT_TLS_PORT`; 0 picks a free one. 8883 by convention. */
  port: number;
  /** PEM server certificate (with its chain), `MQTT_TLS_CERT`. */
  certFile: string;
  /** PEM private key of that certificate, `MQTT_TLS_KEY`. */
  keyFile: string;
  /** PEM CA that signs device certificates, `MQTT_TLS_CA`. */
  caFile?: string;
  /**
   * `MQTT_TLS_CLIENT_CERTS`: `optional` admits a device by a trusted
   * certificate (CN `{type}/{id}`) or by password, `required` by certificate
   * only. @default `optional` with `MQTT_TLS_CA`, else `off`
   */
  clientCerts: ClientCertMode;
}

/** File paths; the transport reads them at connect time. */
export interface ExternalTlsConfig {
  /** `MQTT_CA_FILE`: PEM CA the broker's certificate must chain to. @default Node's CA list */
  caFile?: string;
  /** `MQTT_CERT_FILE` and `MQTT_KEY_FILE`: the bridge's client certificate, both or neither. */
  certFile?: string;
  keyFile?: string;
  /** `MQTT_REJECT_UNAUTHORIZED=false` accepts any broker certificate (tests only). @default true */
  rejectUnauthorized: boolean;
}

export interface AppConfig {
  http: {
    /** HTTP, WebSocket, socket.io, SSE and signalling. 0 picks a free port. @default 3000 */
    port: number;
    /** @default 0.0.0.0 */
    host: string;
  };
  mqtt: {
    /** External broker; unset runs the embedded broker. */
    url?: string;
    /** Embedded broker's TCP port; 0 picks a free one. @default 1883 */
    port: number;
    /** Bridge's credentials at the external broker. */
    username?: string;
    password?: string;
    /** `$share/{group}/…` subscriptions when set: several instances ingest as one (issue #12). */
    shareGroup?: string;
    /**
     * `MQTT_INGEST`, how the members of a share group ingest (issue #12):
     * `lease`, one at a time, the holder of the group's ingest lease, through
     * the group's persistent session (per-device order on any broker,
     * Mosquitto included); `shared`, every member at once, for brokers that
     * hand one device's messages to one member (EMQX `hash_clientid`).
     * @default lease
     */
    ingest: 'lease' | 'shared';
    /**
     * `MQTT_INGEST_LEASE`: how long the ingest lease outlives its holder's
     * last renewal (renewed every fifth of it): a dead holder's devices move
     * to another instance within about this long. @default 5s
     */
    ingestLeaseMs: number;
    /**
     * The bridge's client id at the external broker (`MQTT_CLIENT_ID`). Set, the
     * session is persistent in a share group too (issue #11). @default derived
     * from host, topic prefix and data directory
     */
    clientId?: string;
    /** First topic level. @default things */
    topicPrefix: string;
    /** Embedded broker admits anonymous devices when false. @default true */
    deviceAuth: boolean;
    /** Embedded broker's `mqtts://` and `wss://…/mqtt` listener (`MQTT_TLS_PORT`). Unset: no TLS. */
    tls?: BrokerTlsConfig;
    /** TLS towards an external broker at an `mqtts://` or `wss://` `MQTT_URL`. Unset: Node's defaults. */
    externalTls?: ExternalTlsConfig;
    /**
     * `MQTT_MAX_IN_FLIGHT`: messages handed to ingestion and not yet in the
     * log before the transport stops reading (InFlightWindow); towards an
     * external MQTT 5 broker also the Receive Maximum asked of it.
     * @default 10000 with the embedded broker, 2000 with `MQTT_URL`
     */
    maxInFlight: number;
  };
  /** Bytes, for MQTT payloads and client frames. @default 65536 */
  maxMessageSize: number;
  /** Nesting depth and keys per object of every JSON message from the wire (`MAX_JSON_DEPTH`, `MAX_JSON_KEYS`). */
  json: JsonLimits;
  database: DatabaseConfig;
  /**
   * `SQLITE_SYNCHRONOUS`, on a SQLite file: `full` syncs every commit to disk
   * before its MQTT messages are acknowledged and its events delivered, so
   * an acknowledged message survives a power cut (issue #11); `normal`
   * syncs at checkpoints only, which survives a crash of the process but not
   * of the machine, for less latency per event. @default `full`
   */
  sqliteSynchronous: SqliteSynchronous;
  /** Unset: in-process bus. */
  redisUrl?: string;
  /** SQLite file and generated secrets. @default ./data */
  dataDir: string;
  auth: {
    /** HS256 secret for client tokens. @default generated into DATA_DIR */
    jwtSecret: string;
    /** Bearer credential of the admin API. @default generated into DATA_DIR */
    adminToken: string;
    /** `AUTH=off` opens every read endpoint. @default true */
    required: boolean;
    /**
     * Origins (`https://app.example.com`, lower case) whose pages may open a
     * WebSocket or socket.io connection that authenticates by the `token`
     * cookie, besides the bridge's own. `ALLOWED_ORIGINS`, comma-separated.
     * @default none
     */
    allowedOrigins: string[];
  };
  /** Path of the device-type declarations; unset accepts any type. */
  deviceTypesPath?: string;
  /** Seconds between SSE keepalive comments. @default 30 */
  sseKeepaliveIntervalSec: number;
  /** How long the event log keeps events for resume, in ms. @default 24h */
  eventRetentionMs: number;
  /** The event log's group commit (EventWriterService) and replay (EventReaderService). */
  eventLog: {
    /** `EVENT_BATCH_LIMIT`: events per transaction, about (whole publishes). @default 5000 */
    batchLimit: number;
    /** `EVENT_QUEUE_LIMIT`: events waiting for the log before publishers wait (backpressure to MQTT). @default 50000 */
    queueLimit: number;
    /** `EVENT_REPLAY_BUFFER`: live events held per stream while it replays; past it they are read back from the log. @default 10000 */
    replayBuffer: number;
  };
  /** The readings writer's group commit (DeviceWriterService). */
  readings: {
    /** `READINGS_BATCH_LIMIT`: readings per transaction, about (whole events). @default 20000 */
    batchLimit: number;
    /** `READINGS_QUEUE_LIMIT`: readings waiting for the database before ingestion waits. @default 200000 */
    queueLimit: number;
  };
  /**
   * How long SIGTERM/SIGINT may take to flush the event log and stop, in ms;
   * past it the service logs what it could not flush and exits 1 (issue #18,
   * item 3). Well under Kubernetes' kill grace period (30 s); Docker's is
   * 10 s, so docker-compose.yml sets `stop_grace_period: 30s`.
   * `SHUTDOWN_TIMEOUT`. @default 10s
   */
  shutdownTimeoutMs: number;
  /** @default info */
  logLevel: LogLevel;
  delivery: {
    /**
     * Bytes a web client may leave unread (per connection) before it is
     * disconnected as a slow consumer; it then resumes from its last id.
     * `SEND_BUFFER_LIMIT`. @default 1048576 (1 MiB)
     */
    sendBufferBytes: number;
    /**
     * How long a stream's last words (and what is queued before them) may
     * take to leave once the server ends it; then its connection is dropped,
     * so a client that stopped reading holds no socket or buffers (issue
     * #18, item 4). `STREAM_END_TIMEOUT`. @default 30s (the close handshake
     * timeout of `ws`)
     */
    endTimeoutMs: number;
  };
  signalling: {
    /**
     * Publishable keys: inline JSON or the path of a JSON/YAML file, `SIGNALLING_KEYS`.
     * Unset: no keys, tokens only.
     */
    keys?: string;
    /**
     * Room bindings `{room: [channel patterns]}`: inline JSON or the path of a
     * JSON/YAML file, `SIGNALLING_ROOMS`. Unset: none until `PUT /admin/rooms/{room}`.
     */
    rooms?: string;
    /**
     * Operator channel layouts mapped onto devices, `SIGNALLING_DEVICE_CHANNELS`
     * (inline JSON or a JSON/YAML file, validated at start-up); a `cmd` mapping
     * brings its `cmd/response` at `{template}/response` unless one is given.
     * The standard `{prefix}/{type}/{id}/{kind}` channels need none. @default none
     */
    deviceChannels: DeviceChannelMapping[];
  };
  /** Data connectors: signed webhooks fed from the event log (issue #16, src/connectors/). */
  connectors: ConnectorsConfig;
}

export interface ConnectorsConfig {
  /**
   * Connectors from configuration, `CONNECTORS`: inline JSON or the path of a
   * JSON/YAML file, a list of connector definitions as `POST /admin/connectors`
   * takes them. Unset: none until the admin API makes some.
   */
  definitions?: string;
  /** `CONNECTORS_ALLOW_PRIVATE=true` lets targets be loopback or private addresses. @default false */
  allowPrivate: boolean;
  /** `CONNECTORS_FAILING_AFTER`: how long a connector fails without a success before it is marked failing. @default 10m */
  failingAfterMs: number;
  /** `CONNECTORS_RETRY_INITIAL`: the first retry's delay ceiling (jittered, doubling). @default 1s */
  retryInitialMs: number;
  /** `CONNECTORS_RETRY_MAX`: no retry waits longer than this. @default 5m */
  retryMaxMs: number;
  /**
   * `CONNECTORS_LEASE_TTL`: a connector's delivery lease (one instance
   * delivers it); renewed every third of it, taken over this long after its
   * holder stops renewing. @default 15s
   */
  leaseTtlMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
