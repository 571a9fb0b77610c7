import { CLIENT, NOT_FOUND, OPEN, UNAUTHORIZED, json, pathParam, ref } from './openapi.schemas';
import type { PathItem } from './openapi.types';

const TAG = ['service'];
const html = { 'text/html': { schema: { type: 'string' as const } } };

/** Health, metrics, and the pages the service serves itself. */
export const SERVICE_PATHS: Record<string, PathItem> = {
  '/health': {
    get: {
      tags: TAG,
      operationId: 'health',
      summary: 'Liveness and readiness of the broker, database and bus',
      security: OPEN,
      responses: {
        200: { description: '`ok` or `degraded`.', content: json(ref('Health')) },
        503: { description: '`down`: the broker or the database is unreachable.', content: json(ref('Health')) },
      },
    },
  },
  '/api/stats': {
    get: {
      tags: TAG,
      operationId: 'stats',
      summary:
        "The dashboard's fleet overview: device counts, message and reject rates, event-log lag, backends, instances",
      description:
        'One answer for the page (it asks every 2 s): counts read from the registry when asked, rates from counters sampled every 2 s, `health` as `/health` reports it. Counts only, no device data.',
      security: CLIENT,
      responses: { 200: { description: 'The overview.', content: json(ref('Stats')) }, 401: UNAUTHORIZED },
    },
  },
  '/metrics': {
    get: {
      tags: TAG,
      operationId: 'metrics',
      summary: 'Prometheus metrics (text exposition format)',
      security: OPEN,
      responses: {
        200: {
          description: 'Counters, gauges and histograms.',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
  },
  '/': {
    get: {
      tags: TAG,
      operationId: 'dashboard',
      summary: 'The operator dashboard (open it as `/?token=…`, the URL printed at start-up)',
      security: OPEN,
      responses: {
        200: { description: 'The page.', content: html },
        503: { description: 'Not built: run `npm run build`.' },
      },
    },
  },
  '/dashboard/{file}': {
    parameters: [pathParam('file', 'A built asset such as `app.js` or `app.css`.')],
    get: {
      tags: TAG,
      operationId: 'dashboardAsset',
      summary: "The dashboard's scripts and styles",
      security: OPEN,
      responses: { 200: { description: 'The asset.' }, 404: NOT_FOUND('asset') },
    },
  },
  '/docs': {
    get: {
      tags: TAG,
      operationId: 'docsPage',
      summary: 'This document as a page',
      security: OPEN,
      responses: { 200: { description: 'The page.', content: html } },
    },
  },
  '/docs/openapi.json': {
    get: {
      tags: TAG,
      operationId: 'openApiDocument',
      summary: 'This document (OpenAPI 3.1)',
      security: OPEN,
      responses: { 200: { description: 'The document.', content: json({ type: 'object' }) } },
    },
  },
};
