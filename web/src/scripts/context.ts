// What the panel scripts share: the configuration, the API client, the live feed and the stores.
// dashboard.ts creates one Dashboard and hands it to every panel's mount function.

import type { ApiClient, Product, ProductFields, ScenarioName, WriteHeaders } from '../lib/api';
import type { DashboardConfig } from '../lib/config';
import type { Baseline } from '../lib/counters';
import type { LookupHistory, LookupRecord } from '../lib/history';
import type { LiveFeed } from '../lib/live';
import type { Store } from '../lib/store';
import type { ShowSection } from './sections';

export interface LastLookup {
  record: LookupRecord;
  product: Product | null;
}

/** The product in the edit form, as it was loaded or last saved. */
export interface Editing {
  id: string;
  original: ProductFields;
  /** Browser time it was loaded or saved, ms since the epoch. */
  at: number;
}

/** The last save or delete the edit form made, for the write-result box. */
export interface WriteOutcome {
  kind: 'update' | 'delete';
  id: string;
  method: 'PATCH' | 'DELETE';
  status: number;
  headers: WriteHeaders;
  /** The fields sent (update), which the next lookup should show. */
  sent: Partial<ProductFields> | null;
  at: number;
}

/** The API answered 401 to an admin action: what was refused, and how to try it again with a token. */
export interface TokenRequest {
  /** What the user was doing, e.g. "apply the lab settings". */
  action: string;
  /** A token was sent and refused (rather than missing). */
  refused: boolean;
  retry: () => void;
}

export interface Dashboard {
  config: DashboardConfig;
  api: ApiClient;
  feed: LiveFeed;
  history: LookupHistory;
  /** Counters at the last clear (see lib/counters.ts); null = count from process start. */
  baseline: Store<Baseline | null>;
  lastLookup: Store<LastLookup | null>;
  /** True while a lookup or a hammer run is in flight: the lookup buttons wait. */
  busy: Store<boolean>;
  /** The product in the edit form; null when none is loaded. */
  editing: Store<Editing | null>;
  lastWrite: Store<WriteOutcome | null>;
  /** ADMIN_TOKEN as the user gave it (kept in sessionStorage, lib/admin-token.ts); null = none. */
  adminToken: Store<string | null>;
  /** The last admin action the API refused for want of the token; null = none pending. */
  tokenRequest: Store<TokenRequest | null>;
  /** The scenario this page is running; null = none. */
  scenario: Store<ScenarioName | null>;
  /** Shows a section of the page (and puts its name in the address). */
  showSection: ShowSection;
}
