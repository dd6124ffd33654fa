// The writes feed: every `event: write` message of GET /events, that is every write made through the
// API of any instance (each instance publishes its writes on Redis Pub/Sub, and every instance's
// stream relays them), with the instance that took it and what it did to the cache. The newest 50
// are kept, newest first. Only the live stream carries them; polling cannot.

import { FEED_SIZE, FeedLog, parseObject, timestampOf } from './feed';
import type { FeedEntry } from './feed';

export type WriteOp = 'create' | 'update' | 'delete';

/** One `event: write` message, as the API sends it. */
export interface WriteEvent {
  op: WriteOp | string;
  id: number;
  /** The row's version after the commit; null for a write-behind write only queued so far. */
  version: number | null;
  write_mode: string;
  /** X-Cache-Action of the write's answer: deleted, stored, queued, skipped, failed. */
  cache_action: string;
  /** INSTANCE_ID of the instance that took the write. */
  instance: string;
  /** Service time, unix seconds. */
  timestamp: number;
}

export type WriteEntry = FeedEntry<WriteEvent>;

export const WRITES_FEED_SIZE = FEED_SIZE;

/** The message's data as an event, or null when it is not one. */
export function parseWrite(data: string): WriteEvent | null {
  const e = parseObject(data);
  if (!e || typeof e.op !== 'string' || typeof e.id !== 'number' || typeof e.cache_action !== 'string') return null;
  return {
    op: e.op,
    id: e.id,
    version: typeof e.version === 'number' ? e.version : null,
    write_mode: typeof e.write_mode === 'string' ? e.write_mode : '',
    cache_action: e.cache_action,
    instance: typeof e.instance === 'string' ? e.instance : '',
    timestamp: timestampOf(e),
  };
}

export class WriteLog extends FeedLog<WriteEvent> {}
