/**
 * Checks the import rules of STYLE.md that a linter cannot express by folder:
 * - layers import one way: apps -> features -> dsl -> engine, connectors -> engine (engine imports none; dsl not
 *   connectors; features only dsl and engine);
 * - the RocksDB binding is imported in one file of engine/state/, the Kafka client only under connectors/kafka/,
 *   the PostgreSQL driver only under connectors/sinks/postgres/, DuckDB only under connectors/sinks/duckdb/, the
 *   Redis client only under connectors/sinks/redis/, the Parquet writer and reader only under connectors/sinks/lake/
 *   (so each sink's entry point is the only one loading its driver).
 * Exits 1 and lists every violation.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const layers = ['engine', 'dsl', 'features', 'connectors', 'apps'] as const;
type Layer = (typeof layers)[number];
/** What each layer may import from the project (besides itself). */
const allowed: Record<Layer, readonly Layer[]> = {
  engine: [],
  dsl: ['engine'],
  features: ['dsl', 'engine'],
  connectors: ['engine'],
  apps: ['dsl', 'engine', 'features', 'connectors'],
};
const rocksdbHome = 'engine/state/';
const kafkaHome = 'connectors/kafka/';
const postgresHome = 'connectors/sinks/postgres/';
const duckdbHome = 'connectors/sinks/duckdb/';
const redisHome = 'connectors/sinks/redis/';
const lakeHome = 'connectors/sinks/lake/';

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

const importRe = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems: string[] = [];
const rocksdbFiles = new Set<string>();

for (const layer of layers) {
  let dir: string;
  try {
    dir = join(root, layer);
    statSync(dir);
  } catch {
    continue;
  }
  for (const file of files(dir)) {
    const rel = relative(root, file).split(sep).join('/');
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(dirname(file), spec)).split(sep).join('/');
        const targetLayer = target.split('/')[0];
        if (targetLayer === 'index.ts') {
          problems.push(`${rel}: imports the package root; import the layer's index instead`);
        } else if (targetLayer !== layer && (layers as readonly string[]).includes(targetLayer!) && !allowed[layer].includes(targetLayer as Layer)) {
          problems.push(`${rel}: ${layer}/ must not import ${targetLayer}/ (${spec})`);
        }
      } else if (/^(rocksdb-native|classic-level)(\/|$)/.test(spec)) {
        if (!rel.startsWith(rocksdbHome)) problems.push(`${rel}: the RocksDB binding may only be imported under ${rocksdbHome}`);
        rocksdbFiles.add(rel);
      } else if (/^@platformatic\/kafka(\/|$)/.test(spec) && !rel.startsWith(kafkaHome)) {
        problems.push(`${rel}: the Kafka client may only be imported under ${kafkaHome}`);
      } else if (/^pg(-[a-z-]+)?(\/|$)/.test(spec) && !rel.startsWith(postgresHome)) {
        problems.push(`${rel}: the PostgreSQL driver may only be imported under ${postgresHome}`);
      } else if (/^@duckdb\//.test(spec) && !rel.startsWith(duckdbHome)) {
        problems.push(`${rel}: DuckDB may only be imported under ${duckdbHome}`);
      } else if (/^ioredis(\/|$)/.test(spec) && !rel.startsWith(redisHome)) {
        problems.push(`${rel}: the Redis client may only be imported under ${redisHome}`);
      } else if (/^hyparquet(-writer)?(\/|$)/.test(spec) && !rel.startsWith(lakeHome)) {
        problems.push(`${rel}: the Parquet writer and reader may only be imported under ${lakeHome}`);
      }
    }
  }
}
if (rocksdbFiles.size > 1) problems.push(`the RocksDB binding is imported by ${rocksdbFiles.size} files: ${[...rocksdbFiles].join(', ')}`);

if (problems.length > 0) {
  console.error(`layer check: ${problems.length} violation(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('layer check: ok');
