import {
  CLIENT,
  ID_PARAM,
  INVALID,
  NOT_FOUND,
  TYPE_PARAM,
  UNAUTHORIZED,
  error,
  json,
  query,
  ref,
} from './openapi.schemas';
import type { PathItem } from './openapi.types';

const TAG = ['devices'];

/** The registry, readings history and commands (bridge.md, "REST and admin"; src/devices). */
export const DEVICE_PATHS: Record<string, PathItem> = {
  '/api/devices': {
    get: {
      tags: TAG,
      operationId: 'listDevices',
      summary: 'List devices with status, last seen, battery, firmware and latest readings',
      description: 'Sorted by type, then id; only devices whose channels the token allows.',
      security: CLIENT,
      parameters: [
        query('device_type', 'Only this type.'),
        query('status', 'Only this status, e.g. `online`.'),
        query('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 }),
        query('offset', 'Devices to skip.', { type: 'integer', minimum: 0, default: 0 }),
      ],
      responses: {
        200: {
          description: 'A page of devices and how many match.',
          content: json({
            type: 'object',
            required: ['devices', 'total'],
            properties: { devices: { type: 'array', items: ref('Device') }, total: { type: 'integer' } },
          }),
        },
        400: INVALID,
        401: UNAUTHORIZED,
      },
    },
  },
  '/api/devices/{type}/{id}': {
    parameters: [TYPE_PARAM, ID_PARAM],
    get: {
      tags: TAG,
      operationId: 'getDevice',
      summary: 'One device',
      security: CLIENT,
      responses: {
        200: { description: 'The device.', content: json(ref('Device')) },
        401: UNAUTHORIZED,
        404: NOT_FOUND('device'),
      },
    },
  },
  '/api/devices/{type}/{id}/readings': {
    parameters: [TYPE_PARAM, ID_PARAM],
    get: {
      tags: TAG,
      operationId: 'getReadings',
      summary: 'Readings history, raw or in time buckets',
      description:
        'Oldest first. With `start`, the first `limit` samples from `start` on; without it, the most recent `limit`. With `interval`, one value per reading per interval (`agg`, default `avg`).',
      security: CLIENT,
      parameters: [
        query('start', 'Inclusive; ISO 8601 or epoch milliseconds.'),
        query('end', 'Inclusive; ISO 8601 or epoch milliseconds.'),
        query('limit', 'Samples (or buckets) at most.', {
          type: 'integer',
          minimum: 1,
          maximum: 10_000,
          default: 1000,
        }),
        query('reading', 'Only this reading, e.g. `temperature`.'),
        query('interval', 'Bucket width, `1s` to `366d` (e.g. `30s`, `1m`, `1h`).', {
          type: 'string',
          pattern: '^\\d{1,6}[smhd]$',
        }),
        query('agg', 'Bucket aggregate; needs `interval`.', {
          type: 'string',
          enum: ['avg', 'min', 'max', 'count'],
          default: 'avg',
        }),
      ],
      responses: {
        200: {
          description: 'Samples, or buckets when `interval` is given.',
          content: json({
            oneOf: [
              {
                type: 'object',
                required: ['device_type', 'device_id', 'readings'],
                properties: {
                  device_type: { type: 'string' },
                  device_id: { type: 'string' },
                  readings: { type: 'array', items: ref('Reading') },
                },
              },
              {
                type: 'object',
                required: ['device_type', 'device_id', 'interval', 'agg', 'buckets'],
                properties: {
                  device_type: { type: 'string' },
                  device_id: { type: 'string' },
                  interval: { type: 'string' },
                  agg: { type: 'string' },
                  buckets: { type: 'array', items: ref('Bucket') },
                },
              },
            ],
          }),
        },
        400: INVALID,
        401: UNAUTHORIZED,
        404: NOT_FOUND('device'),
      },
    },
  },
  '/api/device-types/{type}': {
    parameters: [TYPE_PARAM],
    get: {
      tags: TAG,
      operationId: 'getDeviceType',
      summary: 'A declared device type: its readings (type, unit, range) and commands (payload fields)',
      description:
        'From the DEVICE_TYPES file. Undeclared types answer 404: when undeclared types are accepted they take any readings and any command.',
      security: CLIENT,
      responses: {
        200: { description: 'The declaration.', content: json(ref('DeviceType')) },
        401: UNAUTHORIZED,
        404: NOT_FOUND('declared device type'),
      },
    },
  },
  '/api/devices/{type}/{id}/commands': {
    parameters: [TYPE_PARAM, ID_PARAM],
    post: {
      tags: TAG,
      operationId: 'sendCommand',
      summary: "Send a command to the device's `cmd` topic, optionally waiting for its answer",
      description:
        "Validated against the declared command of the device type. Publishes `{command, payload, request_id}` on `{prefix}/{type}/{id}/cmd` (QoS 1) and a `command` event; with `timeout` waits for the matching `cmd/response`. Needs the admin token, or a client token with the `publish` permission and the device's `cmd` channel (AUTH=off does not open it).",
      security: [...CLIENT, { admin: [] }],
      requestBody: {
        required: true,
        content: json(
          {
            type: 'object',
            required: ['command'],
            properties: {
              command: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
              payload: { type: 'object', additionalProperties: true, default: {} },
              timeout: { type: 'number', minimum: 0.1, maximum: 300, description: 'Seconds to wait for the answer.' },
            },
          },
          { command: 'set_interval', payload: { interval: 60 }, timeout: 10 },
        ),
      },
      responses: {
        200: {
          description: 'The device answered (with `timeout`): its `result` or its `error`.',
          content: json(
            {
              type: 'object',
              required: ['request_id'],
              properties: { request_id: { type: 'string' }, result: {}, error: { type: 'string' } },
            },
            { request_id: '4f1c…', result: { interval: 60 } },
          ),
        },
        202: {
          description: 'Sent (without `timeout`).',
          content: json({
            type: 'object',
            required: ['request_id', 'status'],
            properties: { request_id: { type: 'string' }, status: { type: 'string', enum: ['sent'] } },
          }),
        },
        400: error('Invalid body, or a command or payload the device type does not declare (`invalid_command`).'),
        401: UNAUTHORIZED,
        403: error("The token lacks the `publish` permission or the device's `cmd` channel."),
        404: error(
          '`unknown_device`: the bridge never heard of the device (it becomes known when its credentials are minted, when it connects to the embedded broker with them, or when it first publishes), or it is not visible to this token.',
        ),
        503: error('The broker is unreachable, too many commands are waiting, or the service is stopping.'),
        504: {
          description: 'No answer within `timeout`.',
          content: json({
            type: 'object',
            required: ['error', 'request_id'],
            properties: {
              error: { type: 'string', enum: ['command_timeout'] },
              request_id: { type: 'string' },
              message: { type: 'string' },
            },
          }),
        },
      },
    },
  },
};
