/**
 * The operations folder against a real Prometheus (Debian's package; `npm run test:ops`): it
 * scrapes a running application that has a sink runner on its /metrics every second, then every
 * query of the Grafana dashboard and every alert expression is evaluated through the HTTP API, as
 * Grafana and the rule evaluator would, and each must return series. A renamed metric or label, or
 * a query that does not parse, fails here rather than on a user's empty panel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EmbeddedLog } from '../../connectors/embedded/index.ts';
import { SinkRunner, registerSinkMetrics, type Sink } from '../../connectors/sinks/index.ts';
import { Serdes, StreamsApp } from '../../index.ts';
import { PrometheusServer, prometheusBinary } from '../../scripts/prometheus-server.ts';

const root = resolve(import.meta.dirname, '../..');
const dashboardFile = join(root, 'ops/grafana/tributary-dashboard.json');
const alertsFile = join(root, 'ops/prometheus/alerts.yml');
const module = new URL('../engine/runtime/fixtures/word-count.ts', import.meta.url);

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string; readonly refId: string }[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { name: string; type: string; query?: string | { query: string } }[] };
}
interface Rules {
  readonly groups: readonly { readonly rules: readonly { name: string; query: string; health: string; lastError?: string; type: string }[] }[];
}

/**
 * Grafana's variables as Grafana fills them with "All" selected and a 1 s scrape interval
 * ($__rate_interval is at least four scrape intervals).
 */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '10s')
    .replaceAll('$__interval', '1s')
    .replaceAll('$__range', '1m')
    .replace(/\$\{?(job|instance)\}?/g, '.*');
}

/**
 * An alert expression without its thresholds (`> 10000`, `== 1`): what it measures, which must
 * have series whatever the values are now.
 */
function withoutThresholds(expr: string): string {
  return expr.replace(/\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?-?\d+(\.\d+)?(e[+-]?\d+)?(?![\w.[])/g, '');
}

async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('every dashboard query and every alert expression returns series from a real Prometheus scraping a running app', { timeout: 180_000 }, async () => {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
  const alertCount = [...readFileSync(alertsFile, 'utf8').matchAll(/^\s*- alert: /gm)].length;

  // promtool ships in Debian's package: the rules file and the example configuration (which loads
  // it) must pass its checks.
  const promtool = prometheusBinary('promtool');
  assert.match(execFileSync(promtool, ['check', 'rules', alertsFile], { encoding: 'utf8' }), new RegExp(`SUCCESS: ${alertCount} rules found`));
  assert.match(execFileSync(promtool, ['check', 'config', join(root, 'ops/prometheus/prometheus.yml')], { encoding: 'utf8' }), /SUCCESS: 1 rule files found/);

  const dir = mkdtempSync(join(tmpdir(), 'tributary-ops-'));
  const log = await EmbeddedLog.open({ dir: join(dir, 'log') });
  await log.createTopic('sentences', { partitions: 2, cleanupPolicy: 'delete' });
  await log.createTopic('word-counts', { partitions: 2, cleanupPolicy: 'delete' });
  const app = new StreamsApp({ module }, { applicationId: 'ops-test', log, threads: 1, stateDir: join(dir, 'state'), http: { port: 0 } });
  const written: unknown[] = [];
  const sink: Sink<string, Uint8Array> = {
    name: 'counts-warehouse',
    guarantee: 'at-least-once',
    positions: 'log',
    open: async () => {},
    write: async (batch) => void written.push(...batch.parts.flatMap((p) => p.records)),
    close: async () => {},
  };
  const runner = new SinkRunner({ log, topic: 'word-counts', sink, keySerde: Serdes.string(), valueSerde: Serdes.bytes() });
  registerSinkMetrics(app.metricsRegistry, [runner]);
  let prometheus: PrometheusServer | undefined;
  let n = 0;
  // A steady trickle of sentences and queries, so rates, latencies and freshness have values.
  const feed = setInterval(() => {
    n++;
    void log.produce([{ topic: 'sentences', partition: n % 2, records: [{ key: Buffer.from(`s${n}`), value: Buffer.from(`word${n % 7} common`), timestamp: Date.now() }] }]);
    if (app.httpAddress !== undefined) void fetch(`http://127.0.0.1:${app.httpAddress.port}/stores/counts/keys/common`).then((r) => r.arrayBuffer(), () => {});
  }, 100);
  try {
    await app.start();
    await runner.start();
    prometheus = await PrometheusServer.start({ targets: [`127.0.0.1:${app.httpAddress!.port}`], ruleFiles: [alertsFile] });
    const p = prometheus;
    // A few scrapes (so two samples or more in every rate window of the queries) and a sink write.
    await until(async () => Number((await p.query('count_over_time(tributary_state{state="RUNNING"}[1m])'))[0]?.value[1] ?? 0) >= 6, 'six scrapes');
    assert.ok(written.length > 0, 'the sink wrote');

    const empty: string[] = [];
    const check = async (what: string, expr: string) => {
      if ((await p.query(expr)).length === 0) empty.push(`${what}: ${expr}`);
    };

    // Every panel's every query (rows may nest panels).
    const all = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
    assert.equal(new Set(all.map((panel) => panel.id)).size, all.length, 'panel ids are unique');
    const panels = all.filter((panel) => panel.type !== 'row');
    assert.ok(panels.length >= 12, `${panels.length} panels`);
    let queries = 0;
    for (const panel of panels) {
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has queries`);
      for (const target of panel.targets ?? []) {
        queries++;
        await check(`panel "${panel.title}" ${target.refId}`, substitute(target.expr));
      }
    }

    // The variables' label_values(selector, label): the selector has series carrying the label.
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query!.query;
      const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(query) ?? [];
      assert.ok(selector !== undefined && label !== undefined, `variable ${variable.name}: ${query}`);
      if (!(await p.query(substitute(selector))).some((s) => s.metric[label] !== undefined)) empty.push(`variable ${variable.name}: ${query}`);
    }

    // Every alert rule, as Prometheus loaded it from alerts.yml: it evaluates without error, and
    // without its thresholds it has series.
    const rules = (await p.api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules).filter((r) => r.type === 'alerting');
    assert.equal(rules.length, alertCount, 'every alert of alerts.yml is loaded');
    await until(async () => (await p.api<Rules>('/api/v1/rules')).groups.every((g) => g.rules.every((r) => r.health !== 'unknown')), 'every rule evaluated');
    for (const rule of (await p.api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules)) assert.equal(rule.health, 'ok', `rule ${rule.name}: ${rule.lastError ?? ''}`);
    for (const rule of rules) {
      await p.query(rule.query);
      const inner = withoutThresholds(rule.query);
      assert.ok(inner !== rule.query || !/[<>=]=?\s*\d/.test(rule.query), `${rule.name}: thresholds removed from ${rule.query}`);
      await check(`alert ${rule.name}`, inner);
    }

    assert.deepEqual(empty, [], `queries without series:\n${empty.join('\n')}`);
    assert.ok(queries >= 20, `${queries} dashboard queries`);
  } finally {
    clearInterval(feed);
    await prometheus?.stop();
    await runner.close();
    await app.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
