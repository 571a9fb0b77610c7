import { REJECT_REASONS } from '../mqtt/mqtt-router';
import type { Schema } from './openapi.types';

/** `$ref` to a component schema. */
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const timestamp: Schema = { type: 'string', format: 'date-time' };
const nullable = (type: 'number' | 'string'): Schema => ({ type: [type, 'null'] });

export const SCHEMAS: Record<string, Schema> = {
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', description: 'Stable code, e.g. `invalid_request`, `unknown_device`.' },
      message: { type: 'string' },
      fields: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'Field name to what is wrong with it.',
      },
    },
    example: {
      error: 'invalid_request',
      message: 'limit: must be an integer from 1 to 10000',
      fields: { limit: 'must be an integer from 1 to 10000' },
    },
  },
  DeviceEvent: {
    type: 'object',
    description:
      'Every event a client receives, on every transport (bridge.md, "Events"). `id` is the event-log position: strictly increasing, the resume position everywhere, opaque to clients.',
    required: ['id', 'event', 'device_type', 'device_id', 'data', 'timestamp'],
    properties: {
      id: { type: 'string', example: '1734' },
      event: {
        type: 'string',
        description: "`data`, `status`, `command`, `command_response`, or a broadcast's own name.",
      },
      device_type: { type: 'string' },
      device_id: { type: 'string' },
      data: {
        type: 'object',
        additionalProperties: true,
        description: 'Readings for `data`; `{old_status, new_status, …}` for `status`.',
      },
      timestamp: { ...timestamp, description: "The device's time when it sent one, else the server's receive time." },
      received_at: { ...timestamp, description: 'Server receive time.' },
    },
    example: {
      id: '1734',
      event: 'data',
      device_type: 'weatherstation',
      device_id: 'ws-001',
      data: { temperature: 25.3, humidity: 80.1 },
      timestamp: '2025-01-15T12:00:00.000Z',
      received_at: '2025-01-15T12:00:00.012Z',
    },
  },
  Device: {
    type: 'object',
    required: ['device_type', 'device_id', 'status', 'last_seen', 'latest_readings'],
    properties: {
      device_type: { type: 'string' },
      device_id: { type: 'string' },
      status: {
        type: 'string',
        enum: ['online', 'offline', 'error', 'maintenance', 'low_battery', 'provisioning'],
        description:
          'As the device last reported it, or as the service set it: `provisioning` once its credentials are minted and until it is first heard (never marked offline for silence), `online` when it connects to the embedded broker with them or publishes again after being `offline`, `offline` after 2.5 heartbeats of silence.',
      },
      first_seen: {
        ...timestamp,
        description: 'When the bridge first knew of the device (first message, connection or credentials).',
      },
      last_seen: {
        ...timestamp,
        description:
          'The last message or connection from the device (for a provisioned one, when its credentials were minted).',
      },
      battery_level: nullable('number'),
      firmware_version: nullable('string'),
      latest_readings: {
        type: 'object',
        description: "Each reading's most recent sample.",
        additionalProperties: { type: 'object', properties: { value: {}, timestamp } },
      },
    },
  },
  DeviceType: {
    type: 'object',
    required: ['device_type', 'heartbeat_interval', 'readings', 'commands'],
    properties: {
      device_type: { type: 'string' },
      heartbeat_interval: {
        type: 'number',
        description: 'Seconds; silent for 2.5 times this, a device is marked offline.',
      },
      readings: { type: 'object', additionalProperties: ref('FieldSpec') },
      commands: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          properties: { payload: { type: 'object', additionalProperties: ref('FieldSpec') } },
        },
      },
    },
    example: {
      device_type: 'weatherstation',
      heartbeat_interval: 60,
      readings: { temperature: { type: 'number', unit: '°C', range: [-40, 85] } },
      commands: {
        set_interval: { payload: { interval: { type: 'integer', range: [1, 3600], required: true } } },
        reboot: { payload: {} },
      },
    },
  },
  FieldSpec: {
    type: 'object',
    required: ['type'],
    properties: {
      type: { type: 'string', enum: ['number', 'integer', 'boolean', 'string'] },
      unit: { type: 'string' },
      range: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2, description: 'Inclusive bounds.' },
      required: { type: 'boolean', description: 'Command payload fields only; default true.' },
    },
  },
  Reading: {
    type: 'object',
    required: ['timestamp', 'name', 'value'],
    properties: {
      timestamp,
      name: { type: 'string' },
      value: { description: 'Number, string, boolean or JSON value as sent.' },
    },
  },
  Bucket: {
    type: 'object',
    required: ['timestamp', 'name', 'value'],
    properties: {
      timestamp: { ...timestamp, description: 'Start of the interval.' },
      name: { type: 'string' },
      value: nullable('number'),
    },
  },
  Credentials: {
    type: 'object',
    description:
      'MQTT credentials, shown once; minting again rotates them. Connect with the username as the MQTT client id (or an empty one): the embedded broker refuses any other id (CONNACK 2, identifier rejected).',
    required: ['username', 'password'],
    properties: { username: { type: 'string' }, password: { type: 'string' } },
  },
  Reject: {
    type: 'object',
    description: 'A dropped MQTT message, kept for inspection.',
    required: ['id', 'received_at', 'topic', 'reason', 'detail', 'payload', 'payload_encoding', 'payload_size'],
    properties: {
      id: { type: 'integer' },
      received_at: timestamp,
      topic: { type: 'string' },
      reason: { type: 'string', enum: [...REJECT_REASONS] },
      detail: { type: 'string', description: 'What was wrong, e.g. `temperature: 120 is above the range [-40, 85]`.' },
      payload: { type: 'string', description: 'The raw payload (capped), as text or base64.' },
      payload_encoding: { type: 'string', enum: ['utf8', 'base64'] },
      payload_size: { type: 'integer', description: 'Bytes, before capping.' },
    },
  },
  Token: {
    type: 'object',
    required: ['token', 'expiresAt'],
    properties: {
      token: { type: 'string', description: 'HS256 JWT.' },
      expiresAt: { type: 'integer', description: 'Unix seconds.' },
    },
  },
  DeviceToken: {
    type: 'object',
    required: ['token', 'expiresAt', 'peerId', 'channels'],
    properties: {
      token: { type: 'string', description: 'HS256 JWT with `role` `device` or `gateway`.' },
      expiresAt: { type: 'integer', description: 'Unix seconds.' },
      peerId: {
        type: 'string',
        description: 'A device: `{type}/{id}`; a gateway: its name.',
        example: 'sensor/sensor-42',
      },
      channels: { type: 'array', items: { type: 'string' }, example: ['things/sensor/sensor-42/data'] },
    },
  },
  RoomBinding: {
    type: 'object',
    required: ['room', 'channels', 'source'],
    properties: {
      room: { type: 'string' },
      channels: { type: 'array', items: { type: 'string' }, example: ['things/camera/front-door/**'] },
      source: {
        type: 'string',
        enum: ['config', 'admin'],
        description: '`config` bindings come from SIGNALLING_ROOMS and are read-only.',
      },
    },
  },
  Peer: {
    type: 'object',
    required: ['peerId', 'auth', 'connectedAt', 'expiresAt', 'permissions', 'subscriptions'],
    properties: {
      peerId: { type: 'string' },
      auth: { type: 'string', enum: ['token', 'key'] },
      key: { type: 'string' },
      connectedAt: timestamp,
      expiresAt: { type: ['integer', 'null'], description: 'Unix seconds.' },
      remoteAddress: { type: 'string' },
      permissions: { type: 'array', items: { type: 'string' } },
      subscriptions: { type: 'array', items: { type: 'string' } },
      metadata: { type: 'object', additionalProperties: true },
    },
  },
  Health: {
    type: 'object',
    required: ['status', 'broker', 'database', 'bus'],
    properties: {
      status: { type: 'string', enum: ['ok', 'degraded', 'down'] },
      broker: {
        type: 'object',
        properties: {
          connected: { type: 'boolean' },
          ingestion: {
            type: 'object',
            description:
              "This instance's part in ingestion: `alone` (the only instance), `lease` (a share group taking turns; `ingesting` on the holder of the ingest lease, with its `epoch`), `shared` (every member of a share group ingests).",
            properties: {
              mode: { type: 'string', enum: ['alone', 'lease', 'shared'] },
              ingesting: { type: 'boolean' },
              epoch: { type: 'integer' },
            },
          },
        },
      },
      database: { type: 'object', properties: { connected: { type: 'boolean' }, error: { type: 'string' } } },
      redis: { type: 'object', description: 'With REDIS_URL only.', properties: { connected: { type: 'boolean' } } },
      bus: {
        type: 'object',
        properties: { pendingWrites: { type: 'boolean' }, batches: { type: 'integer' }, events: { type: 'integer' } },
      },
      connectors: {
        type: 'object',
        description: 'Only while connectors fail for longer than CONNECTORS_FAILING_AFTER (status `degraded`).',
        properties: { failing: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
  Stats: {
    type: 'object',
    description: "The dashboard's fleet overview (issue #19).",
    required: ['at', 'devices', 'heartbeat', 'rates', 'log', 'health', 'instances'],
    properties: {
      at: { type: 'string', format: 'date-time' },
      devices: {
        type: 'object',
        description:
          'Counts over the whole registry. `silent`: not offline or provisioning, yet not heard for longer than its heartbeat interval (the sweep marks it offline after 2.5).',
        required: ['total', 'online', 'offline', 'error', 'silent', 'by_status'],
        properties: {
          total: { type: 'integer' },
          online: { type: 'integer' },
          offline: { type: 'integer' },
          error: { type: 'integer' },
          silent: { type: 'integer' },
          by_status: { type: 'object', additionalProperties: { type: 'integer' } },
        },
      },
      heartbeat: {
        type: 'object',
        description: 'Heartbeat intervals (seconds) of the types in the registry, and of undeclared types.',
        required: ['default_interval', 'intervals'],
        properties: {
          default_interval: { type: 'number' },
          intervals: { type: 'object', additionalProperties: { type: 'number' } },
        },
      },
      rates: {
        type: 'object',
        description:
          "This instance's MQTT messages and rejects per second, one point per 2 s sample over the last 5 minutes, oldest first.",
        required: ['interval_sec', 'window_sec', 'points'],
        properties: {
          interval_sec: { type: 'number' },
          window_sec: { type: 'number' },
          points: {
            type: 'array',
            items: {
              type: 'object',
              required: ['at', 'messages_per_sec', 'rejects_per_sec'],
              properties: {
                at: { type: 'string', format: 'date-time' },
                messages_per_sec: { type: 'number' },
                rejects_per_sec: { type: 'number' },
              },
            },
          },
        },
      },
      log: {
        type: 'object',
        description:
          '`pending_events` taken but not yet written and `lag_ms` how long the oldest of them has waited; write times of one batch (mean over the rate window, null when none).',
        required: ['pending_events', 'lag_ms', 'last_write_ms', 'avg_write_ms', 'batches', 'events'],
        properties: {
          pending_events: { type: 'integer' },
          lag_ms: { type: 'number' },
          last_write_ms: { type: 'number' },
          avg_write_ms: { type: ['number', 'null'] },
          batches: { type: 'integer' },
          events: { type: 'integer' },
        },
      },
      health: ref('Health'),
      instances: {
        type: 'array',
        description:
          'With REDIS_URL every instance that announced itself in the last minute (`up` when within 7 s); without it this instance alone. `leader` runs the once-only duties (offline sweep, retention pruning).',
        items: {
          type: 'object',
          required: ['id', 'leader', 'up', 'seen_at', 'messages_per_sec', 'self'],
          properties: {
            id: { type: 'string' },
            leader: { type: 'boolean' },
            up: { type: 'boolean' },
            seen_at: { type: 'string', format: 'date-time' },
            messages_per_sec: { type: 'number' },
            self: { type: 'boolean', description: 'The instance that answered.' },
          },
        },
      },
    },
  },
};
