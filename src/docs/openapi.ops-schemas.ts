import { ref } from './openapi.schemas';
import type { Schema } from './openapi.types';

/** What the operational endpoints answer: `/health` and `/api/stats`. */
export const OPS_SCHEMAS: Record<string, Schema> = {
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
