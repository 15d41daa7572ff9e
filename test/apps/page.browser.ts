/**
 * The demo page in a real browser (`npm run test:browser`): headless Chromium from Debian's package
 * (CHROMIUM_PATH, default /usr/bin/chromium), driven by puppeteer-core, which downloads no browser.
 * The app runs here as `npm start` runs it (apps/main.ts): the personalization apps on a fresh
 * embedded log, fed by the seeded generator (a replay of the last hours, then real time). The page
 * must show a user with data within a minute of the start and draw both charts. A screenshot is
 * kept in .artifacts/page.png (ignored by git) for a person to look at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { ClickstreamGenerator } from '../../apps/generator.ts';
import { feedAtWallClock, startPersonalization } from '../../apps/runtime.ts';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = fileURLToPath(new URL('../../.artifacts/', import.meta.url));

test('the demo page shows an active user with data within a minute of the start, and draws the engine charts', { skip: process.env.CHROMIUM_PATH === undefined && !existsSync(chromium) && `no Chromium at ${chromium} (set CHROMIUM_PATH)` }, async () => {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-page-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log'), cleanIntervalMs: 0 });
  const { app, partitions } = await startPersonalization({ log, dataDir: dir, port: 0 });
  await app.start();
  const generator = new ClickstreamGenerator({ seed: 42, users: 20000, sessionsPerDay: 12, startTime: Date.now() - 6 * 3_600_000, invalidRate: 0.001 });
  const feed = feedAtWallClock(log, partitions, generator);
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1500 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
    // Nothing but the app: a request elsewhere would fail without a network at runtime.
    const hosts = new Set<string>();
    page.on('request', (request) => void hosts.add(new URL(request.url()).host));
    const base = `http://127.0.0.1:${app.httpAddress!.port}`;
    await page.goto(`${base}/`, { waitUntil: 'load' });

    // A user is picked from the active users (most recent first) and has features.
    await page.waitForSelector('body[data-user-has-data="true"]', { timeout: Math.max(1000, started + 60_000 - Date.now()) });
    // Browser-side code is passed as text: this project's TypeScript has no DOM types.
    const inPage = <T>(expression: string) => page.evaluate(expression) as Promise<T>;
    const text = (selector: string) => inPage<string>(`document.querySelector(${JSON.stringify(selector)}).textContent`);
    const user = await inPage<string>('document.body.dataset.user');
    const shownAfterMs = Date.now() - started;
    const listed = await inPage<string[]>(`[...document.querySelectorAll('#users button')].map((b) => b.dataset.user)`);
    assert.ok(listed.length > 0, 'active users are listed');
    const times = await inPage<string[]>(`[...document.querySelectorAll('#users .when')].map((s) => s.textContent)`);
    assert.ok(times.every((t) => /\d/.test(t) && !/\d{12,}/.test(t)), `times are shown as local times, not epoch milliseconds: ${times.join(', ')}`);
    assert.match(await text('#features'), /last 1h.*last 1d.*last 7d/s, 'feature windows are named');
    assert.match(await text('#features'), /last event/, 'freshness is shown');
    assert.ok(await inPage<number>(`document.querySelectorAll('#recs tr').length`) > 1, 'recommendations are listed');
    assert.match(await text('#recs'), /trending in|viewed with|popular/, 'each recommendation has a reason');
    assert.ok(await inPage<number>(`document.querySelectorAll('#timeline svg rect, #timeline svg circle').length`) > 0, 'the session timeline is drawn');
    await page.waitForFunction(`document.querySelectorAll('#trending h3').length > 0`, { timeout: 20_000 });

    // Both charts: a canvas with at least two points, and pixels of their first series' colour.
    await page.waitForFunction(`['chart-throughput', 'chart-lag'].every((id) => Number(document.getElementById(id)?.dataset.points ?? 0) >= 2)`, { timeout: 30_000 });
    const drawn = await inPage<{ id: string; width: number; painted: number; series: number }[]>(`
      [['chart-throughput', [37, 99, 235]], ['chart-lag', [245, 158, 11]]].map(([id, [r, g, b]]) => {
        const canvas = document.querySelector('#' + id + ' canvas');
        if (canvas === null) return { id, width: 0, painted: 0, series: 0 };
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        let series = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 0) painted++;
          if (Math.abs(data[i] - r) < 16 && Math.abs(data[i + 1] - g) < 16 && Math.abs(data[i + 2] - b) < 16 && data[i + 3] > 200) series++;
        }
        return { id, width: canvas.width, painted, series };
      })`);
    for (const chart of drawn) {
      assert.ok(chart.width > 0 && chart.painted > 0, `${chart.id} has a non-empty canvas`);
      assert.ok(chart.series > 0, `${chart.id} draws its series`);
    }
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
    assert.deepEqual([...hosts], [new URL(base).host], 'the page loads nothing from elsewhere');
    assert.deepEqual(errors, []);
    console.log(`user ${user} shown ${(shownAfterMs / 1000).toFixed(1)} s after the start; screenshot in ${join(artifacts, 'page.png')}`);
  } finally {
    await browser.close();
    await feed.stop();
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
