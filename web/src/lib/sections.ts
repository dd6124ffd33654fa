// The sections of the dashboard and their addresses: the fragment of the URL names one (#stats),
// none or an unknown one means the default, Lookup.

export type SectionKey = 'lookup' | 'stats' | 'writes' | 'labs' | 'analytics' | 'settings';

export interface Section {
  key: SectionKey;
  /** The tab's words on a wide screen. */
  title: string;
  /** The segment's words on a phone, short enough for six in 360 px. */
  short: string;
}

export const SECTIONS: readonly Section[] = [
  { key: 'lookup', title: 'Lookup', short: 'Lookup' },
  { key: 'stats', title: 'Live stats', short: 'Stats' },
  { key: 'writes', title: 'Writes & invalidation', short: 'Writes' },
  { key: 'labs', title: 'Failure labs', short: 'Labs' },
  { key: 'analytics', title: 'Analytics', short: 'Views' },
  { key: 'settings', title: 'Settings', short: 'Settings' },
];

export const DEFAULT_SECTION: SectionKey = 'lookup';

/** The section a URL fragment names ("#stats", "stats" or ""), the default when it names none. */
export function sectionOf(hash: string): SectionKey {
  const key = hash.replace(/^#/, '');
  return SECTIONS.some((s) => s.key === key) ? (key as SectionKey) : DEFAULT_SECTION;
}
