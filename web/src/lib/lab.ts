// The lab settings (GET/PUT /lab/config), without the DOM: what each one is, its bounds and its
// words; the checks the API makes, with the bounds of its contract (docs/openapi.json, through
// gen/spec.ts) and its messages, so that a value the page
// accepts is one the API accepts; the members a PUT sends (only those changed); and the API's 422
// entries sorted by setting.

import type { LabSettings, ValidationDetail } from './api';
import { SPEC_BOUNDS } from './gen/spec';

export type LabKey = keyof LabSettings;

interface Common {
  key: LabKey;
  /** The protection or knob, in words. */
  title: string;
  /** One plain-language line: what it protects against, or what it does. */
  help: string;
}

export interface ToggleSetting extends Common {
  kind: 'toggle';
}

export interface NumberSetting extends Common {
  kind: 'number';
  min: number;
  max: number;
  unit: string;
}

export type LabSetting = ToggleSetting | NumberSetting;

/** Every setting, in the order the panel shows them: the switches first, then the numbers. */
export const LAB_SETTINGS: readonly LabSetting[] = [
  {
    key: 'stampede_protection',
    kind: 'toggle',
    title: 'Stampede protection',
    help: 'When a popular key expires, one lookup reads PostgreSQL and the others wait for it (single-flight and a Redis lock), instead of all of them querying at once.',
  },
  {
    key: 'refresh_ahead',
    kind: 'toggle',
    title: 'Refresh ahead',
    help: 'A key read near the end of its life is reloaded in the background, so a steadily read product never misses.',
  },
  {
    key: 'circuit_breaker',
    kind: 'toggle',
    title: 'Redis circuit breaker',
    help: 'After a few Redis failures in a row, lookups skip Redis for a moment instead of waiting for its timeout every time.',
  },
  {
    key: 'near_cache',
    kind: 'toggle',
    title: 'Near cache (L1)',
    help: "Hits are answered from this process's memory without asking Redis (X-Cache-Level: L1); Redis tells every process when a product changes. Redis' own hit counter then counts only the hits that reached it.",
  },
  {
    key: 'replica_guard',
    kind: 'toggle',
    title: 'Replica guard',
    help: 'With a read replica (DATABASE_REPLICA_URL), a row read there that is older than the newest write of the product is not cached: the lookup reads the primary instead.',
  },
  {
    key: 'ttl_seconds',
    kind: 'number',
    min: SPEC_BOUNDS.lab.ttl_seconds.minimum,
    max: SPEC_BOUNDS.lab.ttl_seconds.maximum,
    unit: 's',
    title: 'Cache TTL',
    help: 'How long a product stays fresh in the cache.',
  },
  {
    key: 'ttl_jitter_percent',
    kind: 'number',
    min: SPEC_BOUNDS.lab.ttl_jitter_percent.minimum,
    max: SPEC_BOUNDS.lab.ttl_jitter_percent.maximum,
    unit: '%',
    title: 'TTL jitter',
    help: 'Avalanche protection: each TTL is varied by up to this much, so keys cached together do not all expire in the same second. 0 turns it off.',
  },
  {
    key: 'negative_ttl_seconds',
    kind: 'number',
    min: SPEC_BOUNDS.lab.negative_ttl_seconds.minimum,
    max: SPEC_BOUNDS.lab.negative_ttl_seconds.maximum,
    unit: 's',
    title: 'Negative cache TTL',
    help: 'Penetration protection: “not found” is cached this long, so ids that do not exist stop costing a query each. 0 turns it off.',
  },
  {
    key: 'refresh_window_percent',
    kind: 'number',
    min: SPEC_BOUNDS.lab.refresh_window_percent.minimum,
    max: SPEC_BOUNDS.lab.refresh_window_percent.maximum,
    unit: '%',
    title: 'Refresh window',
    help: 'With refresh ahead on: the last part of a key’s life in which a read starts the background reload.',
  },
  {
    key: 'stale_if_error_seconds',
    kind: 'number',
    min: SPEC_BOUNDS.lab.stale_if_error_seconds.minimum,
    max: SPEC_BOUNDS.lab.stale_if_error_seconds.maximum,
    unit: 's',
    title: 'Stale if error',
    help: 'When PostgreSQL fails, an expired copy up to this old is served (source stale, in amber) instead of an error. 0 turns it off.',
  },
  {
    key: 'db_delay_ms',
    kind: 'number',
    min: SPEC_BOUNDS.lab.db_delay_ms.minimum,
    max: SPEC_BOUNDS.lab.db_delay_ms.maximum,
    unit: 'ms',
    title: 'Simulated database latency',
    help: 'Makes every product query wait this long inside PostgreSQL, to see what the protections save with a slow database.',
  },
];

export const LAB_KEYS: readonly LabKey[] = LAB_SETTINGS.map((s) => s.key);

/** The form as the user left it: text for the numbers, true/false for the switches. */
export type LabValues = Record<LabKey, string | boolean>;

/** A message per setting; a missing key means the setting is fine. */
export type LabErrors = Partial<Record<LabKey, string>>;

export function settingOf(key: LabKey): LabSetting {
  return LAB_SETTINGS.find((s) => s.key === key) as LabSetting;
}

/** "1 to 31,536,000 s": the bounds of a number setting, for its hint. */
export function boundsText(s: NumberSetting): string {
  const n = new Intl.NumberFormat('en-US');
  return `${n.format(s.min)} to ${n.format(s.max)} ${s.unit}`;
}

/** A whole number as typed: optional minus sign and digits. */
const INTEGER_TEXT = /^\s*-?\d+\s*$/;

/** The API's checks on every setting, with its messages. */
export function validateLab(v: LabValues): LabErrors {
  const errors: LabErrors = {};
  for (const s of LAB_SETTINGS) {
    if (s.kind !== 'number') continue;
    const text = String(v[s.key]);
    if (!INTEGER_TEXT.test(text)) {
      errors[s.key] = text.trim() === '' ? 'Enter a whole number.' : 'Input should be a valid integer';
      continue;
    }
    const n = Number(text);
    if (n < s.min) errors[s.key] = `Input should be greater than or equal to ${s.min}`;
    else if (n > s.max) errors[s.key] = `Input should be less than or equal to ${s.max}`;
  }
  return errors;
}

/** The settings as the form shows them. */
export function toLabValues(l: LabSettings): LabValues {
  return Object.fromEntries(LAB_SETTINGS.map((s) => [s.key, s.kind === 'toggle' ? Boolean(l[s.key]) : String(l[s.key])])) as LabValues;
}

/** The members that differ from `current`: the body of the PUT (call after validateLab found nothing). */
export function changedSettings(current: LabSettings, v: LabValues): Partial<LabSettings> {
  const out: Record<string, number | boolean> = {};
  for (const s of LAB_SETTINGS) {
    const next = s.kind === 'toggle' ? Boolean(v[s.key]) : Number(String(v[s.key]).trim());
    if (next !== current[s.key]) out[s.key] = next;
  }
  return out as Partial<LabSettings>;
}

/** True when `v` is a complete LabSettings object, as GET/PUT /lab/config answer. */
export function isLabSettings(v: unknown): v is LabSettings {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return LAB_SETTINGS.every((s) => (s.kind === 'toggle' ? typeof o[s.key] === 'boolean' : typeof o[s.key] === 'number'));
}

export function sameSettings(a: LabSettings, b: LabSettings): boolean {
  return LAB_KEYS.every((k) => a[k] === b[k]);
}

/**
 * The API's 422 entries sorted out: those with loc ["body", setting] by setting (first message
 * wins), and the rest (unknown members, a body that is not an object) as text.
 */
export function labApiErrors(detail: unknown): { fields: LabErrors; other: string[] } {
  const fields: LabErrors = {};
  const other: string[] = [];
  if (typeof detail === 'string') return { fields, other: [detail] };
  if (!Array.isArray(detail)) return { fields, other };
  for (const entry of detail as Partial<ValidationDetail>[]) {
    const loc = Array.isArray(entry.loc) ? entry.loc : [];
    const key = loc[0] === 'body' && typeof loc[1] === 'string' ? loc[1] : null;
    const msg = typeof entry.msg === 'string' ? entry.msg : 'Invalid value';
    if (key && (LAB_KEYS as readonly string[]).includes(key)) {
      if (!fields[key as LabKey]) fields[key as LabKey] = msg;
    } else {
      other.push(key ? `${key}: ${msg}` : msg);
    }
  }
  return { fields, other };
}
