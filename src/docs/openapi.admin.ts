import {
  ADMIN,
  error,
  ID_PARAM,
  INVALID,
  NOT_FOUND,
  TYPE_PARAM,
  UNAUTHORIZED,
  json,
  pathParam,
  query,
  ref,
} from './openapi.schemas';
import { REJECT_REASONS } from '../mqtt/mqtt-router';
import type { PathItem } from './openapi.types';

const ADMIN_TAG = ['admin'];
const SIGNALLING_TAG = ['signalling'];
const ROOM_PARAM = pathParam('room', 'Room name.', 'lobby');
const EXTERNAL_BROKER = error(
  '`embedded_broker_only`: with MQTT_URL set, devices authenticate at that broker, not with credentials minted here.',
);

/** Operator endpoints behind `Authorization: Bearer ADMIN_TOKEN` (bridge.md, "REST and admin", "Signalling mirror"). */
export const ADMIN_PATHS: Record<string, PathItem> = {
  '/admin/broadcast': {
    post: {
      tags: ADMIN_TAG,
      operationId: 'broadcast',
      summary: "DeviceHub's manual broadcast: an event delivered on every transport like an ingested one",
      security: ADMIN,
      requestBody: {
        required: true,
        content: json(
          {
            type: 'object',
            required: ['device_type', 'device_id', 'event_type', 'data'],
            properties: {
              device_type: { type: 'string' },
              device_id: { type: 'string' },
              event_type: {
                type: 'string',
                pattern: '^[A-Za-z0-9_.:-]{1,64}$',
                description: 'The event name clients see.',
              },
              data: { type: 'object', additionalProperties: true },
            },
          },
          { device_type: 'weatherstation', device_id: 'ws-001', event_type: 'alert', data: { msg: 'hi' } },
        ),
      },
      responses: {
        200: { description: 'The event, with its log position.', content: json(ref('DeviceEvent')) },
        400: INVALID,
        401: UNAUTHORIZED,
      },
    },
  },
  '/admin/devices/{type}/{id}/credentials': {
    parameters: [TYPE_PARAM, ID_PARAM],
    post: {
      tags: ADMIN_TAG,
      operationId: 'mintDeviceCredentials',
      summary: "Mint (or rotate) a device's MQTT credentials for the embedded broker",
      description:
        'The password is shown once and stored hashed. The device may publish only under `{prefix}/{type}/{id}/…` and subscribe only to its own `cmd`.',
      security: ADMIN,
      responses: {
        201: { description: 'The new credentials.', content: json(ref('Credentials')) },
        400: INVALID,
        401: UNAUTHORIZED,
        409: EXTERNAL_BROKER,
      },
    },
  },
  '/admin/gateways': {
    post: {
      tags: ADMIN_TAG,
      operationId: 'mintGatewayCredentials',
      summary: 'Mint (or rotate) gateway credentials scoped to topic patterns',
      security: ADMIN,
      requestBody: {
        required: true,
        content: json(
          {
            type: 'object',
            required: ['name', 'topics'],
            properties: { name: { type: 'string' }, topics: { type: 'array', items: { type: 'string' }, minItems: 1 } },
          },
          { name: 'site-a', topics: ['things/weatherstation/#'] },
        ),
      },
      responses: {
        201: { description: 'The new credentials.', content: json(ref('Credentials')) },
        400: INVALID,
        401: UNAUTHORIZED,
        409: EXTERNAL_BROKER,
      },
    },
  },
  '/admin/rejects': {
    get: {
      tags: ADMIN_TAG,
      operationId: 'listRejects',
      summary: 'Rejected MQTT messages, newest first, with topic, reason and (capped) raw payload',
      security: ADMIN,
      parameters: [
        query('limit', 'At most this many.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
        query('reason', 'Only this reason.', { type: 'string', enum: [...REJECT_REASONS] }),
      ],
      responses: {
        200: {
          description: 'Rejected messages, and the totals since start-up by reason (every reason, zeros included).',
          content: json({
            type: 'object',
            required: ['rejects', 'counts'],
            properties: {
              rejects: { type: 'array', items: ref('Reject') },
              counts: {
                type: 'object',
                additionalProperties: { type: 'integer' },
                example: { not_json: 2, oversized: 0 },
              },
            },
          }),
        },
        400: INVALID,
        401: UNAUTHORIZED,
      },
    },
  },
  '/admin/peers': {
    get: {
      tags: SIGNALLING_TAG,
      operationId: 'listPeers',
      summary: 'Connected signalling peers',
      security: ADMIN,
      responses: {
        200: {
          description: 'Every peer connected to `/v1`.',
          content: json({
            type: 'object',
            required: ['peers'],
            properties: { peers: { type: 'array', items: ref('Peer') } },
          }),
        },
        401: UNAUTHORIZED,
      },
    },
  },
  '/admin/rooms': {
    get: {
      tags: SIGNALLING_TAG,
      operationId: 'listRooms',
      summary: 'Room bindings: device events matching the patterns are published on the room',
      security: ADMIN,
      responses: {
        200: {
          description: 'Every binding.',
          content: json({
            type: 'object',
            required: ['rooms'],
            properties: { rooms: { type: 'array', items: ref('RoomBinding') } },
          }),
        },
        401: UNAUTHORIZED,
      },
    },
  },
  '/admin/rooms/{room}': {
    parameters: [ROOM_PARAM],
    put: {
      tags: SIGNALLING_TAG,
      operationId: 'putRoom',
      summary: 'Bind a room to device channel patterns',
      security: ADMIN,
      requestBody: {
        required: true,
        content: json(
          {
            type: 'object',
            required: ['channels'],
            properties: { channels: { type: 'array', items: { type: 'string' } } },
          },
          { channels: ['things/camera/front-door/**'] },
        ),
      },
      responses: {
        200: { description: 'The binding.', content: json(ref('RoomBinding')) },
        400: INVALID,
        401: UNAUTHORIZED,
      },
    },
    delete: {
      tags: SIGNALLING_TAG,
      operationId: 'deleteRoom',
      summary: 'Remove a room binding',
      security: ADMIN,
      responses: { 204: { description: 'Removed.' }, 400: INVALID, 401: UNAUTHORIZED, 404: NOT_FOUND('room binding') },
    },
  },
  '/v1/tokens': {
    post: {
      tags: SIGNALLING_TAG,
      operationId: 'mintToken',
      summary: 'Mint a client token (signalling and web clients use the same JWTs)',
      security: ADMIN,
      requestBody: {
        required: true,
        content: json(
          {
            type: 'object',
            required: ['peerId', 'channels'],
            properties: {
              peerId: { type: 'string', maxLength: 128 },
              channels: {
                type: 'array',
                items: { type: 'string' },
                maxItems: 100,
                description: 'Channel patterns (`*`, `**`).',
              },
              permissions: {
                type: 'array',
                items: { type: 'string', enum: ['publish', 'subscribe', 'presence', 'send'] },
                default: ['subscribe', 'presence'],
              },
              expiresInSec: { type: 'integer', minimum: 1, maximum: 86_400, default: 3600 },
              metadata: { type: 'object', additionalProperties: true },
              peerMetadata: { type: 'object', additionalProperties: true },
            },
          },
          { peerId: 'dashboard', channels: ['things/**'], permissions: ['subscribe', 'publish'] },
        ),
      },
      responses: { 201: { description: 'The token.', content: json(ref('Token')) }, 400: INVALID, 401: UNAUTHORIZED },
    },
  },
  '/v1/peers/{id}': {
    parameters: [pathParam('id', 'Peer id.')],
    delete: {
      tags: SIGNALLING_TAG,
      operationId: 'disconnectPeer',
      summary: "Disconnect a peer's connections (close code 4020)",
      security: ADMIN,
      responses: {
        200: {
          description: 'How many connections were closed.',
          content: json({
            type: 'object',
            required: ['peerId', 'disconnected'],
            properties: { peerId: { type: 'string' }, disconnected: { type: 'integer' } },
          }),
        },
        401: UNAUTHORIZED,
        404: NOT_FOUND('connected peer'),
      },
    },
  },
};
