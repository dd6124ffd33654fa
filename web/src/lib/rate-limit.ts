// Rate limiting (GET/PUT /rate-limit/config and the rate-limit-boundary scenario), without the DOM:
// the four algorithms in plain words, and the scenario's answer as the rows of the panel's table.

import type { RateLimitAlgorithm, RateLimitBoundary, RateLimitConfig } from './api';
import { formatCount } from './format';

export interface AlgorithmInfo {
  name: RateLimitAlgorithm;
  title: string;
  /** What it stores and how exact it is, in one line. */
  what: string;
}

export const ALGORITHMS: readonly AlgorithmInfo[] = [
  { name: 'fixed-window', title: 'Fixed window', what: 'One counter per calendar window: cheap, but up to twice the limit across a boundary.' },
  { name: 'sliding-log', title: 'Sliding log', what: 'The time of every allowed request: exact, memory grows with the limit.' },
  { name: 'sliding-window', title: 'Sliding window counter', what: 'This and the last window’s counters, weighted: an estimate in two small keys.' },
  { name: 'token-bucket', title: 'Token bucket', what: 'Tokens refilled at the limit per window: bursts up to the limit, then a steady rate.' },
];

export function algorithmInfo(name: string): AlgorithmInfo | undefined {
  return ALGORITHMS.find((a) => a.name === name);
}

export function isRateLimitConfig(v: unknown): v is RateLimitConfig {
  if (!v || typeof v !== 'object') return false;
  const c = v as Partial<RateLimitConfig>;
  return typeof c.enabled === 'boolean' && typeof c.algorithm === 'string' && typeof c.window_seconds === 'number' && typeof c.reads_per_window === 'number';
}

export function isBoundaryResult(v: unknown): v is RateLimitBoundary {
  if (!v || typeof v !== 'object') return false;
  const r = v as Partial<RateLimitBoundary>;
  return r.scenario === 'rate-limit-boundary' && Array.isArray(r.algorithms);
}

/** "600 reads and 60 writes per 60 s (per client address); 6,000 / 600 per API key". */
export function describeLimits(c: RateLimitConfig): string {
  const q = (n: number) => (n === 0 ? 'unlimited' : formatCount(n));
  return `${q(c.reads_per_window)} reads and ${q(c.writes_per_window)} writes per ${formatCount(c.window_seconds)} s per client address; ${q(c.key_reads_per_window)} / ${q(c.key_writes_per_window)} per API key`;
}

/** One row of the scenario's table, as text, in the order of the columns. */
export interface BoundaryRow {
  algorithm: RateLimitAlgorithm;
  title: string;
  cells: string[];
  /** Allowed more than an exact limiter. */
  over: boolean;
}

export const BOUNDARY_COLUMNS = ['allowed', 'exact limit', 'overshoot', 'most in one window', 'Redis memory per client', 'commands per request'] as const;

export function boundaryRows(r: RateLimitBoundary): BoundaryRow[] {
  return r.algorithms.map((a) => ({
    algorithm: a.algorithm,
    title: algorithmInfo(a.algorithm)?.title ?? a.algorithm,
    cells: [
      `${formatCount(a.allowed)} of ${formatCount(r.requests)}`,
      formatCount(r.exact_allowed),
      a.overshoot > 0 ? `+${formatCount(a.overshoot)}` : formatCount(a.overshoot),
      formatCount(a.max_in_any_window),
      `${formatCount(a.memory_bytes)} B in ${formatCount(a.keys)} ${a.keys === 1 ? 'key' : 'keys'}`,
      String(a.commands_per_request),
    ],
    over: a.overshoot > 0,
  }));
}

/** The run in one sentence. */
export function boundaryVerdict(r: RateLimitBoundary): string {
  const over = r.algorithms.filter((a) => a.overshoot > 0);
  const head = `${formatCount(r.burst)} requests just before a window boundary and ${formatCount(r.burst)} just after, with a limit of ${formatCount(r.limit)} per ${formatCount(r.window_ms)} ms: an exact limiter allows ${formatCount(r.exact_allowed)}.`;
  if (over.length === 0) return `${head} Every algorithm held the limit.`;
  return `${head} ${over.map((a) => `${algorithmInfo(a.algorithm)?.title ?? a.algorithm} allowed ${formatCount(a.allowed)}`).join('; ')}.`;
}
