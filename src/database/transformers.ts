import type { ValueTransformer } from 'typeorm';

/**
 * PostgreSQL hands `bigint` back as a string; SQLite as a number. Event ids and
 * millisecond timestamps stay far below 2^53, so a JS number is exact.
 */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

/** JSON kept as text so SQLite and PostgreSQL store it alike. */
export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? null : JSON.stringify(value)),
  from: (value: string | null) => (value === null ? null : (JSON.parse(value) as unknown)),
};
