// What each CACHE_WRITE_MODE means for the cache, in words and in the source the next lookup of a
// written product should have. Shared by the statistics panel (the mode in use) and the edit form
// (what a save just did).

import type { Source, WriteMode } from './api';

export const WRITE_MODES: readonly WriteMode[] = ['invalidate', 'write-through', 'write-behind'];

export function isWriteMode(v: unknown): v is WriteMode {
  return typeof v === 'string' && (WRITE_MODES as readonly string[]).includes(v);
}

/** One sentence on what a write does to the cache in this mode. */
export function describeWriteMode(mode: WriteMode): string {
  switch (mode) {
    case 'invalidate':
      return 'A write commits in PostgreSQL, then deletes the cached copy: the next lookup reads PostgreSQL (source database) and caches the new data.';
    case 'write-through':
      return 'A write commits in PostgreSQL, then stores the new data in the cache: the next lookup comes from the cache (source cache) with the new data.';
    case 'write-behind':
      return 'A write updates the cache and is queued in Redis (202 Accepted); PostgreSQL gets it shortly after. The next lookup comes from the cache.';
  }
}

/** The source the next lookup of an updated product should have, in this mode. */
export function expectedSource(mode: WriteMode): Extract<Source, 'cache' | 'database'> {
  return mode === 'invalidate' ? 'database' : 'cache';
}

/** The X-Cache-Action values, in words. */
export function describeCacheAction(action: string): string {
  switch (action) {
    case 'deleted':
      return 'the cached copy was deleted';
    case 'stored':
      return 'the new data was stored in the cache';
    case 'skipped':
      return 'the cache already held this version or a newer one, so it was left alone';
    case 'failed':
      return 'Redis did not answer; the change notification retries, and the TTL bounds how long an old copy can live';
    case 'queued':
      return 'the change is queued for PostgreSQL and the cache already holds it';
    default:
      return action;
  }
}
