// The topology of the service (GET /topology) in the words the panel shows: the slot bar of a Redis
// Cluster as segments over 0–16383, the replica's lag as text, and the log of `event: topology`
// messages from the live stream (newest 20 first). Pure functions and a store; no DOM.

import type { TopologyEvent, TopologyNode } from './api';
import { Store } from './store';

export const SLOTS = 16384;
export const EVENT_LOG_SIZE = 20;

/** One stretch of the slot bar: slots from..to (inclusive) served by the master `address`. */
export interface SlotSegment {
  from: number;
  to: number;
  address: string;
  /** The master's position among the masters, for its colour. */
  master: number;
}

/** The slot ranges of every master, ordered by their first slot; gaps are slots nobody serves. */
export function slotSegments(nodes: readonly TopologyNode[]): SlotSegment[] {
  const out: SlotSegment[] = [];
  nodes
    .filter((n) => n.role === 'master' && Array.isArray(n.slot_ranges))
    .forEach((n, master) => {
      for (const [from, to] of n.slot_ranges ?? []) out.push({ from, to, address: n.address ?? '?', master });
    });
  return out.sort((a, b) => a.from - b.from);
}

/** A segment's place on the bar, in percent of its width. */
export function segmentBox(s: SlotSegment): { left: number; width: number } {
  return { left: (s.from / SLOTS) * 100, width: ((s.to - s.from + 1) / SLOTS) * 100 };
}

/** The replica's lag in words: bytes of WAL not replayed, and the age of its last replayed commit. */
export function describeLag(bytes: number | null, ms: number | null): string {
  if (bytes === null) return 'unknown (the replica did not answer)';
  const age = ms === null ? '' : `; last replayed commit ${ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`} old`;
  return `${bytes === 0 ? 'caught up (0 bytes)' : `${bytes.toLocaleString('en-US')} bytes of WAL behind`}${age}`;
}

/** One event in words: "127.0.0.1:6380 → 127.0.0.1:6381", with the slot count for a move. */
export function describeEvent(e: TopologyEvent): string {
  const route = e.to ? `${e.from ?? '(unserved)'} → ${e.to}` : (e.from ?? '');
  const slots = e.slots ? ` (${e.slots.toLocaleString('en-US')} slots)` : '';
  return `${route}${slots}${e.cause ? ` · ${e.cause}` : ''}`;
}

const TYPES = new Set(['switch_master', 'slots_moved', 'node_lost', 'node_back', 'replica_fallback_on', 'replica_fallback_off']);

/** The message's data as an event, or null when it is not one. */
export function parseTopologyEvent(data: string): TopologyEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const e = v as Partial<TopologyEvent>;
  if (typeof e.type !== 'string' || !TYPES.has(e.type)) return null;
  return {
    type: e.type,
    from: typeof e.from === 'string' ? e.from : null,
    to: typeof e.to === 'string' ? e.to : null,
    slots: typeof e.slots === 'number' ? e.slots : null,
    cause: typeof e.cause === 'string' ? e.cause : '',
    timestamp: typeof e.timestamp === 'number' ? e.timestamp : Date.now() / 1000,
  };
}

export interface TopologyEntry extends TopologyEvent {
  seq: number;
}

export class TopologyLog {
  /** The newest EVENT_LOG_SIZE events, newest first. */
  readonly entries = new Store<TopologyEntry[]>([]);
  private seq = 0;

  add(e: TopologyEvent): void {
    this.entries.set([{ ...e, seq: ++this.seq }, ...this.entries.value].slice(0, EVENT_LOG_SIZE));
  }
}
