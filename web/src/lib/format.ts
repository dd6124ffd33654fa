// Number and time formatting shared by the panels, so every panel writes values the same way.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const price = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/** 1234 -> "1,234"; null or undefined -> "—". */
export function formatCount(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? integer.format(n) : '—';
}

/** A duration in milliseconds with precision that suits its size: 0.042 ms, 1.38 ms, 212 ms. */
export function formatMs(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${integer.format(ms)} ms`;
}

/** A percentage 0..100 with two decimals, as the API's hit_rate; null -> "—". */
export function formatPercent(p: number | null | undefined): string {
  return typeof p === 'number' && Number.isFinite(p) ? `${p.toFixed(2)} %` : '—';
}

export function formatPrice(n: number): string {
  return price.format(n);
}

/** Local wall-clock time with milliseconds: "14:03:27.512". */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (v: number, w = 2) => String(v).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** An ISO 8601 timestamp as a readable local date and time, keeping the original on failure. */
export function formatDateTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** The p-th percentile (0..100) of `values` by nearest rank; null for an empty list. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
