// The tools panel: links from /config.json (a null link is not shown) and the API base form.

import type { Dashboard } from './context';
import { byId, setText } from './dom';

const FROM: Record<string, string> = {
  query: 'Set by ?api= in the address.',
  config: 'From the server’s /config.json (UI_API_BASE).',
  default: 'Default: this host, port 8000.',
};

export function mountLinks(d: Dashboard): void {
  for (const li of document.querySelectorAll<HTMLElement>('#links [data-link]')) {
    const href = d.config.links[li.dataset.link as keyof typeof d.config.links];
    li.hidden = !href;
    if (href) (li.querySelector('a') as HTMLAnchorElement).href = href;
  }
  byId<HTMLInputElement>('api-base').value = d.config.apiBase;
  setText(byId('api-base-from'), FROM[d.config.apiBaseFrom]);
}
