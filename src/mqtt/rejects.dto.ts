import { z } from 'zod';
import { queryNumber, queryText } from '../common/validate';
import type { RejectReason } from './mqtt-router';
import { REJECT_REASONS } from './mqtt-router';

/** `GET /admin/rejects`: `?limit=` (100, at most 1000), `?reason=` one of REJECT_REASONS. */
export const REJECTS_QUERY = z.object({
  limit: queryNumber({ min: 1, max: 1000, fallback: 100, message: 'must be an integer from 1 to 1000' }).meta({
    description: 'At most this many (default 100).',
  }),
  reason: queryText(new RegExp(`^(${REJECT_REASONS.join('|')})$`), `must be one of ${REJECT_REASONS.join(', ')}`)
    .transform((reason) => reason as RejectReason | undefined)
    .meta({ description: 'Only this reason.', enum: [...REJECT_REASONS] }),
});

export type RejectsQuery = z.output<typeof REJECTS_QUERY>;
