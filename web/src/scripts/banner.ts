// The banners: "the API cannot be reached" (with the retry schedule) and, while the API answers,
// what a degraded or unhealthy service still does, in plain words.

import type { HealthState } from '../lib/live';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

/** Title and explanation for a health state, or null when there is nothing to say. */
export function degradedText(h: HealthState): [string, string] | null {
  const redisDown = h.redis === 'unhealthy';
  const pgDown = h.postgres === 'unhealthy';
  if (redisDown && pgDown) {
    return ['Redis and PostgreSQL are both down.', 'Product lookups cannot be answered until one of them is back; this page keeps checking.'];
  }
  if (redisDown) {
    return [
      'Redis is down — the service is degraded.',
      'Lookups still work: they are served from PostgreSQL (shown in amber), only slower, and Redis statistics are unavailable until it is back.',
    ];
  }
  if (pgDown) {
    return [
      'PostgreSQL is down — the service is unhealthy.',
      'Products already in the cache are still served; other lookups answer “Database unavailable” until it is back.',
    ];
  }
  return null;
}

export function mountBanners(d: Dashboard): void {
  const unreachable = byId('banner-unreachable');
  const retryText = byId('banner-unreachable-retry');
  const degraded = byId('banner-degraded');
  setText(byId('banner-unreachable-base'), d.config.apiBase);
  byId('banner-retry').addEventListener('click', () => d.feed.refreshNow());

  const renderUnreachable = () => {
    const f = d.feed.status.value;
    unreachable.hidden = f.reachable !== false;
    if (f.reachable !== false) return;
    const secs = f.nextRetryAt ? Math.max(0, Math.ceil((f.nextRetryAt - Date.now()) / 1000)) : 0;
    setText(retryText, secs > 0 ? `Retrying in ${secs} s.` : 'Retrying now…');
  };
  d.feed.status.subscribe(renderUnreachable);
  setInterval(renderUnreachable, 500); // keeps the countdown moving

  const renderDegraded = () => {
    const h = d.feed.snapshot.value?.health;
    const text = d.feed.status.value.reachable !== false && h ? degradedText(h) : null;
    degraded.hidden = text === null;
    degraded.dataset.state = h?.status ?? 'unknown';
    if (text) {
      setText(byId('banner-degraded-title'), text[0]);
      setText(byId('banner-degraded-text'), text[1]);
    }
  };
  d.feed.snapshot.subscribe(renderDegraded);
  d.feed.status.subscribe(renderDegraded);
}
