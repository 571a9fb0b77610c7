import { z } from 'zod';
import { NAME_PATTERN, queryNumber } from '../common/validate';
import type { Schema } from '../docs/openapi.types';

/** Devices one `GET /api/readings/recent` may name: a table page's worth. */
export const MAX_RECENT_DEVICES = 200;
export const DEFAULT_RECENT_LIMIT = 30;
export const MAX_RECENT_LIMIT = 100;

/** `GET /api/readings/recent` parameters, validated. */
export interface RecentReadingsQuery {
  /** In the order asked, each once. */
  devices: { deviceType: string; deviceId: string }[];
  limit: number;
}

const DEVICES_RULE = `must be 1 to ${MAX_RECENT_DEVICES} type/id pairs separated by spaces (e.g. ws/ws-001 ws/ws-002)`;

/**
 * `?devices=type/id type/id …` (space-separated, `+` in a URL) and `?limit=`.
 * Spaces rather than commas: a device id may hold a comma but never
 * whitespace or `/` (NAME_PATTERN), so every list splits one way only.
 */
export const RECENT_READINGS_QUERY = z
  .object({
    devices: z
      .string({ error: (issue) => (Array.isArray(issue.input) ? 'must be given once' : DEVICES_RULE) })
      .transform((value, ctx) => {
        const items = value.split(' ').filter((item) => item !== '');
        const devices: RecentReadingsQuery['devices'] = [];
        const seen = new Set<string>();
        for (const item of items) {
          const slash = item.indexOf('/');
          const deviceType = item.slice(0, slash);
          const deviceId = item.slice(slash + 1);
          if (slash < 0 || !NAME_PATTERN.test(deviceType) || !NAME_PATTERN.test(deviceId)) {
            ctx.addIssue({ code: 'custom', message: `${DEVICES_RULE}; ${JSON.stringify(item.slice(0, 64))} is not` });
            return z.NEVER;
          }
          if (seen.has(item)) continue;
          seen.add(item);
          devices.push({ deviceType, deviceId });
        }
        if (devices.length === 0 || devices.length > MAX_RECENT_DEVICES) {
          ctx.addIssue({ code: 'custom', message: DEVICES_RULE });
          return z.NEVER;
        }
        return devices;
      })
      .meta({
        description: `Up to ${MAX_RECENT_DEVICES} devices as \`type/id\`, separated by spaces (\`+\` in a URL).`,
        example: 'weatherstation/ws-001 weatherstation/ws-002',
      }),
    limit: queryNumber({
      min: 1,
      max: MAX_RECENT_LIMIT,
      fallback: DEFAULT_RECENT_LIMIT,
      message: `must be an integer from 1 to ${MAX_RECENT_LIMIT}`,
    }).meta({ description: `Samples per device at most (default ${DEFAULT_RECENT_LIMIT}).` }),
  })
  .transform((q): RecentReadingsQuery => ({ devices: q.devices, limit: q.limit }));

/** One device's recent samples as the endpoint answers them. */
export interface RecentReadingsView {
  device_type: string;
  device_id: string;
  /** The reading sampled: the device's first numeric reading by name; null when it has none. */
  reading: string | null;
  /** Oldest first. */
  readings: { timestamp: string; value: number }[];
}

export interface RecentReadingsAnswer {
  limit: number;
  devices: RecentReadingsView[];
}

/** What `GET /api/readings/recent` answers (documented in /docs). */
export const RECENT_READINGS_ANSWER: Schema = {
  type: 'object',
  required: ['limit', 'devices'],
  properties: {
    limit: { type: 'integer' },
    devices: {
      type: 'array',
      items: {
        type: 'object',
        required: ['device_type', 'device_id', 'reading', 'readings'],
        properties: {
          device_type: { type: 'string' },
          device_id: { type: 'string' },
          reading: { type: ['string', 'null'] },
          readings: {
            type: 'array',
            items: {
              type: 'object',
              required: ['timestamp', 'value'],
              properties: { timestamp: { type: 'string', format: 'date-time' }, value: { type: 'number' } },
            },
          },
        },
      },
    },
  },
};
