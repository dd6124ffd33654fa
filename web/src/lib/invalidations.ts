// The invalidations feed: every `event: invalidation` message of GET /events, that is every change
// notification (INSERT, UPDATE or DELETE of a product, through the API or straight in PostgreSQL)
// that the service's event loop heard, with what it did to the cached copy. The newest 50 are kept,
// newest first. Only the live stream carries them; polling cannot.

import { Store } from './store';

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

export interface InvalidationEntry extends InvalidationEvent {
  seq: number;
  /** Browser time it arrived, ms since the epoch. */
  receivedAt: number;
}

export const FEED_SIZE = 50;

/** The message's data as an event, or null when it is not one. */
export function parseInvalidation(data: string): InvalidationEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const e = v as Partial<InvalidationEvent>;
  if (typeof e.id !== 'number' || typeof e.version !== 'number' || typeof e.outcome !== 'string') return null;
  return { id: e.id, version: e.version, outcome: e.outcome, timestamp: typeof e.timestamp === 'number' ? e.timestamp : Date.now() / 1000 };
}

export class InvalidationLog {
  /** The newest FEED_SIZE entries, newest first. */
  readonly entries = new Store<InvalidationEntry[]>([]);
  /** Every event heard since the page opened (the list keeps only the newest). */
  total = 0;
  private seq = 0;

  add(e: InvalidationEvent): InvalidationEntry {
    const entry = { ...e, seq: ++this.seq, receivedAt: Date.now() };
    this.total += 1;
    this.entries.set([entry, ...this.entries.value].slice(0, FEED_SIZE));
    return entry;
  }
}
