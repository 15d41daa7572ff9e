/**
 * `tributary init DIR`: a project that depends on tributary, with a typed topology, a test under
 * the TopologyTestDriver and a start script, which runs and passes its test right after
 * `npm install`. Plain Node 24 runs its TypeScript (type stripping); `tsc` only checks it.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's version: package.json is two levels up when built (dist/bin), one in the repo (bin). */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tributary' && pkg.version !== undefined) return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error('tributary: cannot find its own package.json');
  }
}

/** A valid npm package name (and application id) from a directory name. */
export function projectName(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[-.]+$/g, '');
  return name === '' ? 'streams-app' : name.slice(0, 214);
}

/** Why `dir` cannot take a new project, or undefined when it can (missing or empty). */
export function refuseDir(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  try {
    if (readdirSync(dir).length > 0) return `${dir} is not empty; init writes a new project into a new or empty directory`;
  } catch {
    return `${dir} exists and is not a directory`;
  }
  return undefined;
}

/** Writes the project; returns the files written, relative to `dir`. */
export function scaffold(dir: string, options: { name: string; version: string }): string[] {
  const files = templates(options.name, options.version);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return Object.keys(files);
}

function templates(name: string, version: string): Record<string, string> {
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      engines: { node: '>=24' },
      scripts: { start: 'node src/main.ts', test: 'node --test', typecheck: 'tsc' },
      dependencies: { tributary: `^${version}` },
      devDependencies: { '@types/node': '^24.0.0', typescript: '^6.0.0' },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        // Node runs the .ts files itself (type stripping); tsc only checks them.
        target: 'es2024',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        erasableSyntaxOnly: true,
        skipLibCheck: true,
        types: ['node'],
      },
      include: ['src', 'test'],
    }),
    '.gitignore': 'node_modules/\n.data/\n',
    'src/topology.ts': `import { Materialized, Serdes, StreamsBuilder, type Topology } from 'tributary';

/** Sentences come in here (any key, a string value)... */
export const SENTENCES = 'sentences';
/** ...and the running count of each word goes out here. */
export const WORD_COUNTS = 'word-counts';
/** The store of counts, queried over HTTP at /stores/counts/keys/<word>. */
export const COUNTS = 'counts';

/** Word count: every word of every sentence, counted, as a table and as a stream of updates. */
export function topology(): Topology {
  const builder = new StreamsBuilder();
  builder
    .stream(SENTENCES, { key: Serdes.string(), value: Serdes.string() })
    .flatMapValues((sentence) => sentence.toLowerCase().split(/\\W+/).filter((word) => word.length > 0))
    .groupBy((_key, word) => word, { key: Serdes.string(), value: Serdes.string() })
    .count({ materialized: Materialized.as(COUNTS) })
    .toStream()
    .to(WORD_COUNTS, { key: Serdes.string(), value: Serdes.number() });
  return builder.build();
}
`,
    'src/main.ts': `/**
 * Runs the topology on the embedded log in ./.data (DATA_DIR), with its HTTP API on 127.0.0.1:8080
 * (PORT). Ctrl-C stops it after a last commit; the next start resumes where it stopped.
 */
import { StreamsApp, StreamsError } from 'tributary';
import { EmbeddedLog } from 'tributary/connectors/embedded';
import { SENTENCES, WORD_COUNTS } from './topology.ts';

const dataDir = process.env.DATA_DIR ?? '.data';
const port = Number(process.env.PORT ?? 8080);

const log = await EmbeddedLog.open({ dir: dataDir });
const existing = await log.topics();
for (const topic of [SENTENCES, WORD_COUNTS]) {
  if (!existing.has(topic)) await log.createTopic(topic, { partitions: 2, cleanupPolicy: 'delete' });
}
const app = new StreamsApp(
  { module: new URL('./topology.ts', import.meta.url) },
  { applicationId: ${JSON.stringify(name)}, log, stateDir: \`\${dataDir}/state\`, http: { port } },
);
const stop = async () => {
  await app.close();
  await log.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  await app.start();
} catch (error) {
  await log.close();
  if (error instanceof StreamsError && error.code === 'ADDRESS_IN_USE') {
    console.error(\`port \${port} is in use; set PORT to another (PORT=0 picks a free one)\`);
  } else {
    console.error(error instanceof StreamsError ? \`\${error.message} (\${error.code})\` : error);
  }
  process.exit(1);
}
const url = \`http://127.0.0.1:\${app.httpAddress!.port}\`;
console.log(\`${name} is running at \${url}\`);
console.log(\`  curl -H 'content-type: application/json' -d '[{"key":"1","value":"hello streams"}]' \${url}/topics/\${SENTENCES}/records\`);
console.log(\`  curl \${url}/stores/counts/keys/hello\`);
`,
    'test/topology.test.ts': `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serdes, TopologyTestDriver } from 'tributary';
import { COUNTS, SENTENCES, WORD_COUNTS, topology } from '../src/topology.ts';

test('every word is counted, and each count goes out as an update', () => {
  const driver = new TopologyTestDriver(topology());
  try {
    const sentences = driver.createInputTopic(SENTENCES, Serdes.string(), Serdes.string());
    const counts = driver.createOutputTopic(WORD_COUNTS, Serdes.string(), Serdes.number());
    sentences.pipeInput('s1', 'Hello streams', 1_000);
    sentences.pipeInput('s2', 'hello again', 2_000);
    assert.deepEqual(
      counts.readKeyValuesToList().map((r) => [r.key, r.value]),
      [['hello', 1], ['streams', 1], ['hello', 2], ['again', 1]],
    );
    assert.equal(driver.getKeyValueStore<string, number>(COUNTS).get('hello'), 2);
  } finally {
    driver.close();
  }
});
`,
    'README.md': `# ${name}

A stream-processing application on [Tributary](https://www.npmjs.com/package/tributary): word
count over the embedded log, with interactive queries over HTTP.

    npm install
    npm test             # the topology under the TopologyTestDriver
    npm start            # the application: log and state in ./.data, HTTP on 127.0.0.1:8080

Then, from another terminal:

    curl -H 'content-type: application/json' -d '[{"key":"1","value":"hello streams"}]' \\
      http://127.0.0.1:8080/topics/sentences/records
    curl http://127.0.0.1:8080/stores/counts/keys/hello

\`src/topology.ts\` is the topology, \`src/main.ts\` runs it (\`PORT\` and \`DATA_DIR\` move the port
and the data), \`test/topology.test.ts\` tests it. \`npm run typecheck\` checks the types; Node runs
the TypeScript as it is.
`,
  };
}
