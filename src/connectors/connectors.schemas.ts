import type { Schema } from '../docs/openapi.types';

const time: Schema = { type: ['string', 'null'], format: 'date-time' };

const connector: Schema = {
  type: 'object',
  description: 'A data connector (issue #16) and what an operator reads of it. The secret is never shown here.',
  required: [
    'name',
    'url',
    'batch_size',
    'timeout_ms',
    'headers',
    'paused',
    'source',
    'state',
    'cursor',
    'lag',
    'deliveries',
    'failures',
    'events_delivered',
    'last_status',
    'last_error',
    'last_attempt_at',
    'last_success_at',
    'failing_since',
    'delivered_by',
    'created_at',
    'updated_at',
  ],
  properties: {
    name: { type: 'string' },
    url: { type: 'string', example: 'https://example.com/hooks/devicehub' },
    event_types: { type: 'array', items: { type: 'string' } },
    device_type: { type: 'string' },
    device_id: { type: 'string' },
    channels: { type: 'array', items: { type: 'string' } },
    batch_size: { type: 'integer' },
    timeout_ms: { type: 'integer' },
    headers: {
      type: 'array',
      items: { type: 'string' },
      description: 'Names of the custom headers; values are not shown.',
    },
    paused: { type: 'boolean' },
    source: { type: 'string', enum: ['config', 'admin'], description: '`config` connectors come from CONNECTORS.' },
    state: {
      type: 'string',
      enum: ['ok', 'paused', 'retrying', 'failing'],
      description: '`retrying` after a failure; `failing` once failures have lasted CONNECTORS_FAILING_AFTER.',
    },
    cursor: { type: 'string', description: 'Delivery resumes after this event id.' },
    lag: {
      type: 'object',
      required: ['events', 'seconds'],
      properties: {
        events: { type: 'integer', description: 'Log positions after the cursor.' },
        seconds: { type: 'number', description: 'Age of the oldest event not yet acknowledged; 0 when caught up.' },
      },
    },
    deliveries: { type: 'integer', description: 'Requests answered 2xx.' },
    failures: { type: 'integer', description: 'Requests that failed.' },
    events_delivered: { type: 'integer' },
    last_status: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    last_attempt_at: time,
    last_success_at: time,
    failing_since: time,
    delivered_by: { type: ['string', 'null'], description: 'The id of the instance holding its delivery lease.' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

/** The connectors' component schemas in /docs. */
export const CONNECTOR_SCHEMAS: Record<string, Schema> = {
  Connector: connector,
  ConnectorCreated: {
    ...connector,
    description: 'A new connector, with its signing secret: the only answer that shows it.',
    required: [...(connector.required ?? []), 'secret'],
    properties: {
      ...connector.properties,
      secret: { type: 'string', description: 'The HMAC key, shown this once.' },
    },
  },
  ConnectorTest: {
    type: 'object',
    required: ['ok', 'status', 'error', 'duration_ms', 'delivery_id'],
    properties: {
      ok: { type: 'boolean' },
      status: { type: ['integer', 'null'] },
      error: { type: ['string', 'null'] },
      duration_ms: { type: 'integer' },
      delivery_id: { type: 'string' },
    },
  },
};
