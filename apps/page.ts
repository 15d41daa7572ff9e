/**
 * The demo page served at `/` (apps/page.html, a static HTML+JS file read once at start): active
 * users, a user's session timeline, features with their windows and freshness, recommendations
 * with reasons, trending per category, and the engine's throughput and lag as charts (uPlot, which
 * the app serves itself from node_modules: see apps/serving.ts). Everything comes from the app's
 * own routes; the page needs no other network.
 */
import { readFileSync } from 'node:fs';

export const PAGE: string = readFileSync(new URL('./page.html', import.meta.url), 'utf8');
