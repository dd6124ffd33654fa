// Astro configuration of the cacheme dashboard: a static build (web/dist) that cacheme serves on
// UI_PORT. Hashed assets go to /_astro/, which cacheme serves with a one-year immutable cache.
import { defineConfig } from 'astro/config';
import tailwindcss from '@tailwindcss/vite';

export default defineConfig({
  output: 'static',
  build: {
    assets: '_astro',
    // Always separate, hashed CSS files: cacheme caches them for a year, and no inline styles
    // keeps the page friendly to a strict Content-Security-Policy.
    inlineStylesheets: 'never',
  },
  vite: {
    plugins: [tailwindcss()],
    build: {
      // Never inline scripts as data: URIs for the same reason.
      assetsInlineLimit: 0,
    },
  },
  devToolbar: { enabled: false },
});
