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
};
