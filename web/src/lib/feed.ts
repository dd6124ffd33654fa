// A live feed of GET /events messages (the invalidations, the writes): the newest FEED_SIZE kept,
// newest first, each numbered and stamped with the browser time it arrived.

import { Store } from './store';

export const FEED_SIZE = 50;

/** An event as the feed keeps it. */
export type FeedEntry<T> = T & {
  seq: number;
  /** Browser time it arrived, ms since the epoch. */
  receivedAt: number;
};

/** A message's data as an object, or null when it is not JSON or not an object. */
export function parseObject(data: string): Record<string, unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
}

/** Service time of a message in unix seconds: its own, or now when it has none. */
export function timestampOf(v: Record<string, unknown>): number {
  return typeof v.timestamp === 'number' ? v.timestamp : Date.now() / 1000;
}

export class FeedLog<T extends object> {
  /** The newest FEED_SIZE entries, newest first. */
  readonly entries = new Store<FeedEntry<T>[]>([]);
  /** Every event heard since the page opened (the list keeps only the newest). */
  total = 0;
  private seq = 0;

  add(e: T): FeedEntry<T> {
    const entry = { ...e, seq: ++this.seq, receivedAt: Date.now() } as FeedEntry<T>;
    this.total += 1;
    this.entries.set([entry, ...this.entries.value].slice(0, FEED_SIZE));
    return entry;
  }
}
