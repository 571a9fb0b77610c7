import { ADMIN_PATHS } from './openapi.admin';
import { DELIVERY_PATHS, DELIVERY_SCHEMAS } from './openapi.delivery';
import { DEVICE_PATHS } from './openapi.devices';
import { SCHEMAS } from './openapi.schemas';
import { SERVICE_PATHS } from './openapi.service';
import type { OpenApiDocument } from './openapi.types';

/**
 * The OpenAPI document of every HTTP endpoint, written by hand next to the
 * code it describes (the controllers parse their input with BodyReader, not
 * decorated DTOs, so there is nothing for a generator to read).
 * test/docs-openapi.e2e-spec.ts fails when the app registers a route that
 * is not here, so the document cannot fall behind silently.
 */
export function openApiDocument(version: string): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'DeviceHub Bridge',
      version,
      description:
        'Carries IoT device events from MQTT to the web. Read endpoints take a client JWT (`Authorization: Bearer`, `?token=` or a `token` cookie) unless AUTH=off; admin endpoints take `Authorization: Bearer ADMIN_TOKEN`. Errors are JSON `{error, message, fields?}`. WebSocket endpoints (`/ws/iot/{type}/`, socket.io namespace `/iot`, signalling at `/v1`, MQTT over WebSocket at `/mqtt`) are described in the README.',
    },
    tags: [
      { name: 'devices', description: 'Registry, readings history, commands.' },
      {
        name: 'delivery',
        description: 'Live events over SSE / NDJSON, and polling. Every event `id` is a resume position.',
      },
      { name: 'admin', description: 'Broadcasts, MQTT credentials, rejected messages.' },
      {
        name: 'signalling',
        description: 'Tokens, peers and room bindings of the Metered-compatible signalling adapter.',
      },
      { name: 'service', description: 'Health, metrics, the dashboard and this document.' },
    ],
    paths: { ...DEVICE_PATHS, ...DELIVERY_PATHS, ...ADMIN_PATHS, ...SERVICE_PATHS },
    components: {
      schemas: { ...SCHEMAS, ...DELIVERY_SCHEMAS },
      securitySchemes: {
        clientBearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Client token (`POST /v1/tokens`, or the one printed at start-up).',
        },
        clientQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'Client token where a header cannot be sent.',
        },
        clientCookie: { type: 'apiKey', in: 'cookie', name: 'token', description: 'Client token as a cookie.' },
        admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN.' },
      },
    },
  };
}
