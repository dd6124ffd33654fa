// The Redis circuit breaker in plain words. The service keeps one breaker per event loop; /health,
// /cache/stats and the live stream report the breaker of the loop that answered them (for the
// stream: the loop serving this page's connection).

import type { BreakerState } from './api';

export const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half-open', 'disabled'];

export function isBreakerState(v: unknown): v is BreakerState {
  return typeof v === 'string' && (BREAKER_STATES as readonly string[]).includes(v);
}

/** A few words for the health strip. */
export function breakerShort(state: BreakerState): string {
  switch (state) {
    case 'closed':
      return 'closed (using Redis)';
    case 'open':
      return 'open (skipping Redis)';
    case 'half-open':
      return 'half-open (trying Redis again)';
    case 'disabled':
      return 'off';
  }
}

/** One sentence for the statistics panel. */
export function describeBreaker(state: BreakerState): string {
  switch (state) {
    case 'closed':
      return 'Closed: Redis answers, so lookups use the cache as usual.';
    case 'open':
      return 'Open: Redis failed several times in a row, so lookups skip it and go straight to PostgreSQL (X-Cache: BYPASS) instead of waiting for its timeout. A trial command after a short pause decides whether to close it again.';
    case 'half-open':
      return 'Half-open: one trial command is checking whether Redis is back; the breaker closes if it answers.';
    case 'disabled':
      return 'Switched off in the lab: every lookup tries Redis, and waits for its timeout when Redis hangs.';
  }
}

/** Whether lookups are skipping Redis in this state. */
export function breakerSkipsRedis(state: BreakerState | null | undefined): boolean {
  return state === 'open' || state === 'half-open';
}
