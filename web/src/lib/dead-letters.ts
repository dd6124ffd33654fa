// Dead letters of the write-behind queue as the dashboard words them: which write, what
// PostgreSQL answered, and when.

import type { DeadLetter } from './api';
import { formatDateTime } from './format';

export interface DeadLetterLine {
  /** "product 16 · update", or the entry id when the entry named no product. */
  what: string;
  /** "22001: value too long for type character varying(255)", or the reason alone without a SQLSTATE. */
  error: string;
  /** When it was parked, local time. */
  when: string;
}

/** The dead letters of a stats body that are well formed, newest first as the API lists them. */
export function deadLettersOf(list: unknown): DeadLetter[] {
  if (!Array.isArray(list)) return [];
  return list.filter(
    (d): d is DeadLetter =>
      typeof d === 'object' && d !== null && typeof d.stream_id === 'string' && typeof d.op === 'string' && typeof d.error === 'string' && typeof d.failed_at === 'string',
  );
}

export function describeDeadLetter(d: DeadLetter): DeadLetterLine {
  return {
    what: typeof d.product_id === 'number' ? `product ${d.product_id} · ${d.op}` : `entry ${d.stream_id} · ${d.op}`,
    error: d.sqlstate ? `${d.sqlstate}: ${d.error}` : d.error,
    when: formatDateTime(d.failed_at),
  };
}
