/**
 * Tributary as a dependency, used the way a user would (issue 14): `npm pack`, install the tarball
 * into a fresh project, then with plain Node 24 and no loader run a topology under the test
 * driver, run a StreamsApp whose topology module lives in that project (its worker threads import
 * it), ingest over HTTP and query a store, typecheck user code with `tsc --strict` against the
 * shipped types, run the README example and the CLI, and scaffold a project with `tributary init`
 * that passes its own test. Run by `npm run test:package` (in .ci/run); needs the npm registry or
 * npm's cache for the package's dependencies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = promisify(execFile);

/** `npm ...` in `cwd`, with this Node first on PATH so scripts and bins run under it. */
function npmSync(args: string[], cwd: string): string {
  const PATH = `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}`;
  // Without NODE_TEST_CONTEXT: a `node --test` below must report as a run of its own, not to this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return execFileSync(npm, args, { cwd, encoding: 'utf8', env: { ...env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
}

const work = mkdtempSync(join(tmpdir(), 'tributary-package-'));
let tarball = '';
let project = '';

test.after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack builds the package: JS, types and source maps, README, LICENSE and ops/; no tests, benchmarks or TypeScript sources', () => {
  const [packed] = JSON.parse(npmSync(['pack', '--json', '--pack-destination', work], root)) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed!.filename);
  const paths = packed!.files.map((f) => f.path);
  const outside = paths.filter((p) => !p.startsWith('dist/') && !p.startsWith('ops/') && !['package.json', 'README.md', 'LICENSE'].includes(p));
  assert.deepEqual(outside, [], 'only dist/, ops/, package.json, README.md and LICENSE');
  // The Grafana dashboard and Prometheus rules, for users to import from node_modules/tributary/ops.
  assert.deepEqual(paths.filter((p) => p.startsWith('ops/')).sort(), ['ops/grafana/tributary-dashboard.json', 'ops/prometheus/alerts.yml', 'ops/prometheus/prometheus.yml']);
  assert.deepEqual(paths.filter((p) => /(^|\/)(test|bench|apps|scripts|examples)\//.test(p)), []);
  assert.deepEqual(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), [], 'no TypeScript sources (Node does not strip types under node_modules)');
  for (const entry of ['dist/index.js', 'dist/index.d.ts', 'dist/spi.js', 'dist/spi.d.ts', 'dist/connectors/embedded/index.js', 'dist/connectors/kafka/index.d.ts', 'dist/connectors/sinks/index.d.ts', 'dist/connectors/sinks/postgres/index.js', 'dist/connectors/sinks/duckdb/index.js', 'dist/connectors/sinks/redis/index.js', 'dist/connectors/sinks/lake/index.js', 'dist/features/index.js', 'dist/features/index.d.ts', 'dist/bin/tributary.js', 'dist/engine/runtime/stream-thread.js', 'LICENSE']) {
    assert.ok(paths.includes(entry), `${entry} is in the tarball`);
  }
  assert.ok(paths.includes('dist/index.js.map'), 'source maps');
});

test('a fresh project installs the tarball', () => {
  project = join(work, 'user-project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }, null, 2));
  npmSync(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], project);
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/tributary/package.json'), 'utf8')) as { version: string };
  assert.equal(installed.version, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
});

const topologySource = `import { Serdes, StreamsBuilder, Materialized, type Topology } from 'tributary';

export interface Click { user: string; page: string }

/** Page views per page; the store is queried over HTTP. MessagePack values exercise msgpackr. */
export function topology(): Topology {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', { key: Serdes.string(), value: Serdes.json<Click>() })
    .mapValues((click) => ({ page: click.page }))
    .groupBy((_user, v) => v.page, { key: Serdes.string(), value: Serdes.msgpack<{ page: string }>() })
    .count({ materialized: Materialized.as('views') })
    .toStream()
    .to('views-by-page', { key: Serdes.string(), value: Serdes.number() });
  return builder.build();
}
`;

test('plain Node 24 runs a topology from the package under the test driver', async () => {
  writeFileSync(join(project, 'topology.ts'), topologySource);
  writeFileSync(
    join(project, 'driver.ts'),
    `import assert from 'node:assert/strict';
import { Serdes, TopologyTestDriver } from 'tributary';
import { topology, type Click } from './topology.ts';

const driver = new TopologyTestDriver(topology());
const clicks = driver.createInputTopic('clicks', Serdes.string(), Serdes.json<Click>());
const views = driver.createOutputTopic('views-by-page', Serdes.string(), Serdes.number());
clicks.pipeInput('ann', { user: 'ann', page: '/a' }, 1);
clicks.pipeInput('bob', { user: 'bob', page: '/a' }, 2);
clicks.pipeInput('ann', { user: 'ann', page: '/b' }, 3);
assert.deepEqual(views.readKeyValuesToList().map((r) => [r.key, r.value]), [['/a', 1], ['/a', 2], ['/b', 1]]);
driver.close();
console.log('driver ok');
`,
  );
  const { stdout } = await run(process.execPath, ['driver.ts'], { cwd: project });
  assert.match(stdout, /driver ok/);
});

test('tributary/features from the package: a feature definition under the test driver, DDSketch percentiles included', async () => {
  writeFileSync(
    join(project, 'features.ts'),
    `import assert from 'node:assert/strict';
import { Serdes, StreamsBuilder, TopologyTestDriver } from 'tributary';
import { Agg, buildFeatures, defineFeatures, feature, readFeatures, type FeatureState } from 'tributary/features';

interface Order { user: string; amount: number }
const orders = defineFeatures({
  name: 'orders',
  entity: (o) => o.user,
  windows: { '1h': { hop: '5m' }, lifetime: 'lifetime' },
  features: { spend: feature(Agg.sum(), (o: Order) => o.amount), p50: feature(Agg.approxPercentile([0.5]), (o: Order) => o.amount) },
});
const b = new StreamsBuilder();
buildFeatures(b.stream('orders', { key: Serdes.string(), value: Serdes.json<Order>() }), orders);
const driver = new TopologyTestDriver(b.build());
const input = driver.createInputTopic('orders', Serdes.string(), Serdes.json<Order>());
for (const [i, amount] of [10, 20, 30].entries()) input.pipeInput('o' + i, { user: 'ann', amount }, 1_000 + i);
const values = readFeatures(orders, driver.getKeyValueStore<string, FeatureState>('orders').get('ann'), 5_000);
assert.equal(values.spend['1h'], 60);
assert.ok(Math.abs(values.p50.lifetime![0]! - 20) <= 0.2);
driver.close();
console.log('features ok');
`,
  );
  const { stdout } = await run(process.execPath, ['features.ts'], { cwd: project });
  assert.match(stdout, /features ok/);
});

test('a StreamsApp runs the project\'s own topology module in worker threads; records go in over HTTP and the store answers', async () => {
  writeFileSync(
    join(project, 'app.ts'),
    `import { StreamsApp } from 'tributary';
import { EmbeddedLog } from 'tributary/connectors/embedded';

const log = await EmbeddedLog.open({ dir: process.argv[2]! });
await log.createTopic('clicks', { partitions: 2, cleanupPolicy: 'delete' });
await log.createTopic('views-by-page', { partitions: 2, cleanupPolicy: 'delete' });
const app = new StreamsApp({ module: new URL('./topology.ts', import.meta.url) }, { applicationId: 'views', log, threads: 2, stateDir: process.argv[2] + '/state', http: { port: 0 } });
await app.start();
const base = 'http://127.0.0.1:' + app.httpAddress!.port;
const posted = await fetch(base + '/topics/clicks/records', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify([{ key: 'ann', value: { user: 'ann', page: '/a' } }, { key: 'bob', value: { user: 'bob', page: '/a' } }]),
});
if (posted.status !== 200) throw new Error('ingest: ' + posted.status + ' ' + (await posted.text()));
let value: unknown;
for (let i = 0; i < 300 && value !== 2; i++) {
  const res = await fetch(base + '/stores/views/keys/%2Fa');
  if (res.status === 200) value = ((await res.json()) as { value: unknown }).value;
  else await new Promise((r) => setTimeout(r, 50));
}
await app.close();
await log.close();
console.log('views of /a: ' + String(value));
`,
  );
  const { stdout } = await run(process.execPath, ['app.ts', join(work, 'app-data')], { cwd: project, timeout: 60_000 });
  assert.match(stdout, /views of \/a: 2/);
});

test('user code typechecks with tsc --strict against the shipped types; a wrong type and an internal import do not', () => {
  writeFileSync(
    join(project, 'typed.ts'),
    `import { Serdes, StreamsBuilder, StreamsError, type KeyValueStore } from 'tributary';
import type { Log } from 'tributary/spi';
import { KafkaLog } from 'tributary/connectors/kafka';

const builder = new StreamsBuilder();
const lengths = builder.stream('words', { key: Serdes.string(), value: Serdes.string() }).mapValues((w) => w.length);
lengths.filter((_k, n) => n > 3).to('long-words', { value: Serdes.number() });
// @ts-expect-error: the values are numbers now, and numbers have no toUpperCase
lengths.mapValues((n) => n.toUpperCase());
// @ts-expect-error: stream tasks are internal, not exported
import type { StreamTask } from 'tributary';
export type Internal = StreamTask;
export const store: KeyValueStore<string, number> | undefined = undefined;
export const log: Log | undefined = undefined as KafkaLog | undefined;
export const code: string = new StreamsError('INVALID_ARGUMENT', 'x').code;
`,
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2024',
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: false,
        typeRoots: [join(root, 'node_modules/@types')],
        types: ['node'],
      },
      files: ['typed.ts', 'topology.ts', 'driver.ts', 'app.ts'],
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    assert.fail(`tsc failed:\n${(error as { stdout: string }).stdout}`);
  }
  // The @ts-expect-error lines must be errors: without the comments tsc fails on exactly those.
  writeFileSync(join(project, 'typed.ts'), readFileSync(join(project, 'typed.ts'), 'utf8').replace(/\/\/ @ts-expect-error.*\n/g, ''));
  let out = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    out = (error as { stdout: string }).stdout;
  }
  assert.match(out, /typed\.ts\(\d+,\d+\): error TS2339: Property 'toUpperCase' does not exist on type 'number'/);
  assert.match(out, /typed\.ts\(\d+,\d+\): error TS2305: Module '"tributary"' has no exported member 'StreamTask'/);
});

test('internals are not reachable: subpaths outside the exports map are refused', async () => {
  writeFileSync(join(project, 'reach.mjs'), "await import('tributary/dist/engine/internals/stream-task.js').then(() => console.log('reached'), (e) => console.log(e.code));");
  const { stdout } = await run(process.execPath, ['reach.mjs'], { cwd: project });
  assert.equal(stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});

test('the README example runs as written against the installed package', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  writeFileSync(join(project, 'readme-example.ts'), code);
  await run(process.execPath, ['readme-example.ts'], { cwd: project });
});

test('npx tributary --help runs the built CLI', () => {
  const out = npmSync(['exec', '--no', '--', 'tributary', '--help'], project);
  assert.match(out, /usage:/);
  assert.match(out, /tributary run MODULE/);
});

test('tributary init scaffolds a project that installs, passes its own test, typechecks and starts', async () => {
  const scaffold = join(work, 'scaffolded');
  const created = npmSync(['exec', '--no', '--', 'tributary', 'init', scaffold], project);
  assert.match(created, /created scaffolded in/);
  // The scaffold depends on tributary@^version from the registry; this test installs the tarball
  // in its place (as a user of an unpublished build would), with its dev dependencies.
  npmSync(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], scaffold);
  assert.match(npmSync(['test'], scaffold), /\bpass 1\n.*\bfail 0\n/);
  npmSync(['run', 'typecheck'], scaffold);
  // npm start: the application comes up, takes a sentence over HTTP and answers the count.
  const child = spawn(npm, ['start'], { cwd: scaffold, env: { ...process.env, PORT: '0', PATH: `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 60_000);
      child.stdout.on('data', () => {
        const m = /is running at (http:\/\/[^\s]+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
    });
    const posted = await fetch(`${base}/topics/sentences/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ key: '1', value: 'hello streams hello' }]) });
    assert.equal(posted.status, 200, await posted.text());
    let value: unknown;
    for (let i = 0; i < 300 && value !== 2; i++) {
      const res = await fetch(`${base}/stores/counts/keys/hello`);
      if (res.status === 200) value = ((await res.json()) as { value: unknown }).value;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(value, 2, output);
  } finally {
    // npm start's process group: npm and the node it started.
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
  }
});
