// The sections: shows the one the address names (#lookup, the default, #stats, #writes, #labs, #analytics,
// #settings), marks its link as the current page, and keeps the address and the browser's history in
// step. The links stay plain links (Tab reaches them, Enter follows them); Left and Right move between
// them as in a tab bar. No element carries a section's name as its id, so the browser never scrolls
// away from the top when the address changes.

import { SECTIONS, sectionOf } from '../lib/sections';
import type { SectionKey } from '../lib/sections';

/** Shows a section; scripts call it when an action leads elsewhere (e.g. "enter the admin token"). */
export type ShowSection = (key: SectionKey) => void;

export function mountSections(): ShowSection {
  const panes = [...document.querySelectorAll<HTMLElement>('div[data-section]')];
  const links = [...document.querySelectorAll<HTMLAnchorElement>('[data-section-link]')];

  const render = (key: SectionKey) => {
    for (const p of panes) p.hidden = p.dataset.section !== key;
    for (const a of links) {
      if (a.dataset.sectionLink === key) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.body.dataset.currentSection = key;
  };

  const show: ShowSection = (key) => {
    if (sectionOf(location.hash) !== key || location.hash === '') history.pushState(null, '', `#${key}`);
    render(key);
    window.scrollTo({ top: 0 });
  };

  // Every in-page link to a section (the tabs, the skip link, links in messages) goes through show().
  document.addEventListener('click', (ev) => {
    const a = (ev.target as Element | null)?.closest?.<HTMLAnchorElement>('a[href^="#"]');
    const key = a?.getAttribute('href')?.slice(1);
    if (!a || !SECTIONS.some((s) => s.key === key) || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    ev.preventDefault();
    show(key as SectionKey);
    // The skip link leads to the id field itself.
    if (a.dataset.focus) document.getElementById(a.dataset.focus)?.focus();
  });

  for (const [i, a] of links.entries()) {
    a.addEventListener('keydown', (ev) => {
      const step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (!step) return;
      ev.preventDefault();
      const next = links[(i + step + links.length) % links.length];
      next.focus();
      show(next.dataset.sectionLink as SectionKey);
    });
  }

  window.addEventListener('popstate', () => render(sectionOf(location.hash)));
  window.addEventListener('hashchange', () => render(sectionOf(location.hash)));
  render(sectionOf(location.hash));
  return show;
}
