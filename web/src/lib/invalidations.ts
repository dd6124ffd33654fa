// The invalidations feed: every `event: invalidation` message of GET /events, that is every change
// notification (INSERT, UPDATE or DELETE of a product, through the API or straight in PostgreSQL)
// that the service's event loop heard, with what it did to the cached copy. The newest 50 are kept,
// newest first. Only the live stream carries them; polling cannot.

import { FeedLog, parseObject, timestampOf } from './feed';
import type { FeedEntry } from './feed';

export { FEED_SIZE } from './feed';

/** What the service did with the cached product when it heard the change. */
export type InvalidationOutcome = 'dropped' | 'already applied' | 'failed';

/** One `event: invalidation` message, as the API sends it. */
export interface InvalidationEvent {
  id: number;
  /** The row's version after the change (raised by the database trigger). */
  version: number;
  outcome: InvalidationOutcome | string;
  /** Service time, unix seconds. */
  timestamp: number;
}

export type InvalidationEntry = FeedEntry<InvalidationEvent>;

/** The message's data as an event, or null when it is not one. */
export function parseInvalidation(data: string): InvalidationEvent | null {
  const e = parseObject(data);
  if (!e || typeof e.id !== 'number' || typeof e.version !== 'number' || typeof e.outcome !== 'string') return null;
  return { id: e.id, version: e.version, outcome: e.outcome, timestamp: timestampOf(e) };
}

export class InvalidationLog extends FeedLog<InvalidationEvent> {}
