// The figures of the Analytics section, ready to show: ranking rows and the per-minute bars of one
// product (pure functions; scripts/analytics.ts puts them on the page).

import type { AnalyticsLeaderboard, AnalyticsProduct, AnalyticsTrending } from './api';
import { formatCount } from './format';

/** One row of a ranking. */
export interface RankRow {
  rank: number;
  productId: number;
  /** The score or the view count as shown. */
  value: string;
}

export function trendingRows(t: AnalyticsTrending): RankRow[] {
  return t.products.map((p) => ({ rank: p.rank, productId: p.product_id, value: p.score.toFixed(p.score % 1 === 0 ? 0 : 2) }));
}

export function leaderboardRows(l: AnalyticsLeaderboard): RankRow[] {
  return l.products.map((p) => ({ rank: p.rank, productId: p.product_id, value: formatCount(p.views) }));
}

/** One minute of a product's views, with its bar's share of the busiest minute (0–100). */
export interface MinuteRow {
  /** Local time of the minute's start, "hh:mm". */
  label: string;
  views: number;
  percent: number;
}

export function minuteRows(p: AnalyticsProduct): MinuteRow[] {
  const max = Math.max(1, ...p.minutes.map((m) => m.views));
  return p.minutes.map((m) => {
    const d = new Date(m.start * 1000);
    const label = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    return { label, views: m.views, percent: Math.round((m.views / max) * 100) };
  });
}
