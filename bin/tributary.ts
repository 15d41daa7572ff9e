#!/usr/bin/env node
/**
 * The tributary command line. `tributary --help` lists the commands, `tributary help COMMAND` (or
 * `COMMAND --help`) shows one. Exit codes: 0 done, 1 the work failed (a coded error from the log or
 * the application: `tributary: <message> (<CODE>)`), 2 the command line or its input is wrong
 * (`tributary <command>: <what>`). A user's mistake never prints a stack trace.
 *
 * With --url, the commands that take it talk to a running application over HTTP (its log is locked
 * by it); otherwise they open the embedded log in --data-dir (default ./.data) themselves. The HTTP
 * token, when the application has one, comes from TRIBUTARY_HTTP_TOKEN (for `run` and --url alike).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { Serdes, StreamsApp, StreamsError, partitionForKey, type LogRecord, type Serde } from '../index.ts';
import { parseRecords } from '../engine/runtime/topic-records.ts';
import { packageVersion, projectName, refuseDir, scaffold } from './init.ts';
import { BackfillInputError, featuresBackfill } from './features-backfill.ts';

/** A mistake in the command line or its input: exit 2 with one line. */
class UsageError extends Error {}

interface Option {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly default?: string | boolean;
  /** The value's placeholder in help. */
  readonly value?: string;
  readonly help: string;
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  readonly name: string;
  /** Positionals in help, e.g. `TOPIC [FILE]`. */
  readonly args: string;
  readonly summary: string;
  readonly details?: string;
  readonly positionals: { readonly min: number; readonly max: number };
  readonly options: Readonly<Record<string, Option>>;
  run(args: string[], values: Values): Promise<void>;
}

const dataDir: Option = { type: 'string', default: '.data', value: 'DIR', help: 'the embedded log (and, for run, the state) (default .data)' };
const url: Option = { type: 'string', value: 'URL', help: "a running application's HTTP address instead of --data-dir, e.g. http://127.0.0.1:8080" };

const commands: readonly Command[] = [
  {
    name: 'init',
    args: 'DIR',
    summary: 'scaffold a project: a typed topology, a test, a start script',
    details: 'DIR must be new or empty. Then: cd DIR && npm install && npm test && npm start',
    positionals: { min: 1, max: 1 },
    options: {},
    run: init,
  },
  {
    name: 'run',
    args: 'MODULE',
    summary: 'run the topology MODULE exports, on the embedded log, with its HTTP API',
    details: 'MODULE exports a Topology or a function returning one (named by --export). Ctrl-C or SIGTERM stops it after a last commit.',
    positionals: { min: 1, max: 1 },
    options: {
      export: { type: 'string', default: 'topology', value: 'NAME', help: 'the export holding the topology (default topology)' },
      'application-id': { type: 'string', value: 'ID', help: "the application's id (default: MODULE's file name)" },
      'data-dir': dataDir,
      host: { type: 'string', default: '127.0.0.1', value: 'HOST', help: 'the address the HTTP API listens on (default 127.0.0.1)' },
      port: { type: 'string', default: '8080', value: 'PORT', help: 'its port (default 8080; 0 picks a free one)' },
      threads: { type: 'string', value: 'N', help: 'stream threads (default: one per core, at most the task count)' },
      'cache-max-bytes': {
        type: 'string',
        value: 'BYTES',
        help: 'record cache of aggregations, all threads (default 10485760; 0 emits every update)',
      },
    },
    run: runApp,
  },
  {
    name: 'topics',
    args: '',
    summary: 'list topics with their partitions, cleanup policy and end offsets',
    positionals: { min: 0, max: 0 },
    options: { 'data-dir': dataDir, url },
    run: listTopics,
  },
  {
    name: 'topics create',
    args: 'NAME',
    summary: 'create a topic in the embedded log',
    positionals: { min: 1, max: 1 },
    options: {
      partitions: { type: 'string', default: '1', value: 'N', help: 'partitions (default 1)' },
      compact: { type: 'boolean', default: false, help: 'a compacted topic (a table), not a stream' },
      'data-dir': dataDir,
    },
    run: createTopic,
  },
  {
    name: 'produce',
    args: 'TOPIC [FILE]',
    summary: 'append NDJSON records {"key", "value", "timestamp"?} from FILE or stdin',
    details: 'A JSON array works too. Keys and values are serialized with --key-format and --value-format (with --url, by the application).',
    positionals: { min: 1, max: 2 },
    options: {
      'data-dir': dataDir,
      url,
      'key-format': { type: 'string', default: 'string', value: 'string|json', help: 'how keys are serialized (default string)' },
      'value-format': { type: 'string', default: 'json', value: 'string|json', help: 'how values are serialized (default json)' },
    },
    run: produce,
  },
  {
    name: 'consume',
    args: 'TOPIC',
    summary: 'print records of a partition as NDJSON',
    positionals: { min: 1, max: 1 },
    options: {
      partition: { type: 'string', default: '0', value: 'P', help: 'the partition (default 0)' },
      from: { type: 'string', default: '0', value: 'OFFSET', help: 'the first offset (default 0)' },
      limit: { type: 'string', default: '100', value: 'N', help: 'at most N records (default 100)' },
      'data-dir': dataDir,
      url,
    },
    run: consume,
  },
  {
    name: 'features backfill',
    args: '',
    summary: "training data: each label's features as of its time, from a lake's events, by the streaming definition itself",
    details: [
      'LABELS (.parquet, .csv or .jsonl) holds an entity id, a time (ms or ISO 8601) and any label columns; OUT gets them',
      'plus one column per feature and window (<feature>_<window>), each as the definition served it at the label time:',
      "its topology runs over the lake's events in time order, and a label at T is read after exactly the events at or",
      'before T. --definitions names a module exporting a LakeBackfill (the definition and how a lake row becomes its record).',
    ].join('\n'),
    positionals: { min: 0, max: 0 },
    options: {
      lake: { type: 'string', value: 'DIR', help: "the lake's root folder (the lake sink's dir; npm start: .data/personalization/lake) (required)" },
      labels: { type: 'string', value: 'FILE', help: 'the labels: .parquet, .csv or .jsonl (required)' },
      out: { type: 'string', value: 'FILE', help: 'the Parquet file to write (required)' },
      definitions: { type: 'string', default: 'apps/feature-backfill.ts', value: 'MODULE', help: "the module of the definition (default apps/feature-backfill.ts: the apps' user activity)" },
      export: { type: 'string', default: 'backfill', value: 'NAME', help: 'its export (default backfill; the apps also have itemBackfill)' },
      prefix: { type: 'string', value: 'NAME', help: "the source's folder under the lake (default: the module's, else events)" },
      'entity-column': { type: 'string', value: 'NAME', help: 'the labels\' entity column (default: entity_id, entity, user_id, item_id or id)' },
      'time-column': { type: 'string', value: 'NAME', help: 'the labels\' time column (default: ts, timestamp, time, event_time or label_time)' },
    },
    run: backfillCommand,
  },
];

const help: Option = { type: 'boolean', short: 'h', default: false, help: 'this help' };

function usageLine(c: Command): string {
  return `tributary ${c.name}${c.args === '' ? '' : ` ${c.args}`}${Object.keys(c.options).length > 0 ? ' [options]' : ''}`;
}

function generalHelp(): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.args}`.length));
  return [
    `usage: tributary COMMAND [options]     (tributary ${packageVersion()})`,
    '',
    ...commands.map((c) => `  tributary ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`),
    '',
    '`tributary help COMMAND` or `tributary COMMAND --help` shows its options.',
    'The HTTP API listens on 127.0.0.1 unless --host says otherwise; set TRIBUTARY_HTTP_TOKEN to require',
    'a bearer token (run) and to send it (--url). Exit codes: 0 done, 1 failed, 2 wrong command line or input.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  const options = Object.entries({ ...c.options, help });
  const label = ([name, o]: [string, Option]) => `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`;
  const width = Math.max(...options.map((e) => label(e).length));
  return [`usage: ${usageLine(c)}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, ...(c.details === undefined ? [] : [c.details]), '', 'options:', ...options.map((e) => `  ${label(e).padEnd(width)}  ${e[1].help}`)].join('\n');
}

/** The command an argument list names: `topics create` before `topics`. */
function find(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const two = commands.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two !== undefined) return { command: two, rest: argv.slice(2) };
  const one = commands.find((c) => c.name === argv[0]);
  return one === undefined ? undefined : { command: one, rest: argv.slice(1) };
}

/** parseArgs with this command's options only; its errors rewritten as one line naming the command. */
function parse(c: Command, rest: string[]): { values: Values; args: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...c.options, help }, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const option = /'(-[^' ]+)/.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
      const elsewhere = commands.filter((other) => Object.hasOwn(other.options, option.replace(/^--?/, ''))).map((other) => other.name);
      const where = elsewhere.length === 0 ? '' : ` (it belongs to ${elsewhere.map((n) => `\`tributary ${n}\``).join(', ')})`;
      throw new UsageError(`${option} is not an option of \`tributary ${c.name}\`${where}; see tributary ${c.name} --help`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
      const name = option.replace(/^--?/, '');
      const o = c.options[name];
      throw new UsageError(o?.type === 'boolean' ? `${option} takes no value` : `${option} needs a value${o?.value === undefined ? '' : ` (${o.value})`}`);
    }
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Values;
  const args = parsed.positionals;
  if (values['help'] === true) return { values, args };
  if (args.length < c.positionals.min) throw new UsageError(`missing ${c.args.split(' ')[args.length]}; usage: ${usageLine(c)}`);
  if (args.length > c.positionals.max) throw new UsageError(`unexpected argument ${JSON.stringify(args[c.positionals.max])}; usage: ${usageLine(c)}`);
  return { values, args };
}

function str(values: Values, name: string): string {
  return values[name] as string;
}

function int(values: Values, name: string): number {
  const raw = values[name] as string;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function serdeOf(values: Values, what: 'key' | 'value'): Serde<unknown> {
  const format = values[`${what}-format`];
  if (format === 'string') return Serdes.string() as Serde<unknown>;
  if (format === 'json') return Serdes.json<unknown>();
  throw new UsageError(`--${what}-format must be string or json, got ${JSON.stringify(format)}`);
}

/** A request to a running application; 4xx answers and unreachable addresses are the user's to fix. */
async function http(values: Values, method: string, path: string, body?: string): Promise<unknown> {
  const base = str(values, 'url');
  let target: URL;
  try {
    target = new URL(path, base);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`--url must be an http(s) address such as http://127.0.0.1:8080, got ${JSON.stringify(base)}`);
  }
  const token = process.env['TRIBUTARY_HTTP_TOKEN'];
  const headers: Record<string, string> = {
    ...(token !== undefined && token !== '' && { authorization: `Bearer ${token}` }),
    ...(body !== undefined && { 'content-type': body.trimStart().startsWith('[') ? 'application/json' : 'application/x-ndjson' }),
  };
  let res: Response;
  try {
    res = await fetch(target, body === undefined ? { method, headers } : { method, headers, body });
  } catch (error) {
    throw new UsageError(`${method} ${target.href}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}; is the application running at --url?`);
  }
  const json = (await res.json().catch(() => ({}))) as { error?: string; code?: string };
  if (!res.ok) {
    const message = `${method} ${path}: ${res.status} ${json.error ?? res.statusText}${json.code === undefined ? '' : ` (${json.code})`}`;
    if (res.status < 500) throw new UsageError(message);
    throw new Error(message);
  }
  return json;
}

async function withLog<T>(values: Values, fn: (log: EmbeddedLog) => Promise<T>): Promise<T> {
  const log = await EmbeddedLog.open({ dir: resolve(str(values, 'data-dir')) });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

/** The whole input as strict UTF-8: bytes that are not UTF-8 are refused, not merged into U+FFFD. */
async function readInput(file: string | undefined): Promise<string> {
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of input) chunks.push(chunk as Buffer);
  } catch (error) {
    throw new UsageError(`cannot read ${file ?? 'stdin'}: ${(error as Error).message}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)).replaceAll('\r\n', '\n');
  } catch {
    throw new UsageError(`${file ?? 'stdin'} is not valid UTF-8`);
  }
}

async function init([dir]: string[]): Promise<void> {
  const refused = refuseDir(dir!);
  if (refused !== undefined) throw new UsageError(refused);
  const name = projectName(dir!);
  const files = scaffold(dir!, { name, version: packageVersion() });
  console.log(`created ${name} in ${dir}: ${files.join(', ')}`);
  console.log(`next: cd ${dir} && npm install && npm test && npm start`);
}

async function listTopics(_: string[], values: Values): Promise<void> {
  if (values['url'] !== undefined) {
    for (const t of (await http(values, 'GET', '/topics')) as { name: string; partitions: number; cleanupPolicy: string; endOffsets: number[] }[]) {
      console.log(`${t.name}\tpartitions=${t.partitions}\t${t.cleanupPolicy}\tend=${t.endOffsets.join(',')}`);
    }
    return;
  }
  await withLog(values, async (log) => {
    for (const [name, config] of [...(await log.topics())].sort()) {
      const ends = Array.from({ length: config.partitions }, (_, p) => log.offsets({ topic: name, partition: p }).end);
      console.log(`${name}\tpartitions=${config.partitions}\t${config.cleanupPolicy}\tend=${ends.join(',')}`);
    }
  });
}

async function createTopic([name]: string[], values: Values): Promise<void> {
  const partitions = int(values, 'partitions');
  if (partitions === 0) throw new UsageError('--partitions must be at least 1');
  await withLog(values, (log) => log.createTopic(name!, { partitions, cleanupPolicy: values['compact'] === true ? 'compact' : 'delete' }));
  console.log(`created ${name}`);
}

async function produce([topic, file]: string[], values: Values): Promise<void> {
  const keySerde = serdeOf(values, 'key');
  const valueSerde = serdeOf(values, 'value');
  const text = await readInput(file);
  if (values['url'] !== undefined) {
    const { accepted } = (await http(values, 'POST', `/topics/${encodeURIComponent(topic!)}/records`, text)) as { accepted: number };
    console.log(`produced ${accepted} records to ${topic}`);
    return;
  }
  let rows: unknown[];
  try {
    rows = parseRecords(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  await withLog(values, async (log) => {
    const config = (await log.topics()).get(topic!);
    if (config === undefined) throw new UsageError(`topic "${topic}" does not exist; create it with: tributary topics create ${topic}`);
    const batches = new Map<number, LogRecord[]>();
    rows.forEach((row, i) => {
      const r = row as { key?: unknown; value?: unknown; timestamp?: unknown };
      if (typeof row !== 'object' || row === null || !('value' in r)) throw new UsageError(`record ${i + 1}: expected { key, value, timestamp? }`);
      if (r.timestamp !== undefined && (typeof r.timestamp !== 'number' || !Number.isSafeInteger(r.timestamp) || r.timestamp < 0)) {
        throw new UsageError(`record ${i + 1}: timestamp must be a non-negative integer (ms), got ${JSON.stringify(r.timestamp)}`);
      }
      let key: Uint8Array | null;
      let value: Uint8Array | null;
      try {
        key = r.key === undefined || r.key === null ? null : keySerde.serialize(r.key, topic!);
        value = r.value === null ? null : valueSerde.serialize(r.value, topic!);
      } catch (error) {
        throw new UsageError(`record ${i + 1}: ${(error as Error).message}`);
      }
      const p = key === null ? i % config.partitions : partitionForKey(key, config.partitions);
      let list = batches.get(p);
      if (list === undefined) batches.set(p, (list = []));
      list.push({ key, value, timestamp: (r.timestamp as number | undefined) ?? Date.now() });
    });
    await log.produce([...batches].map(([partition, records]) => ({ topic: topic!, partition, records })));
  });
  console.log(`produced ${rows.length} records to ${topic}`);
}

async function consume([topic]: string[], values: Values): Promise<void> {
  const partition = int(values, 'partition');
  const offset = int(values, 'from');
  const limit = int(values, 'limit');
  if (values['url'] !== undefined) {
    const query = `partition=${partition}&offset=${offset}&limit=${limit}`;
    const { records } = (await http(values, 'GET', `/topics/${encodeURIComponent(topic!)}/records?${query}`)) as { records: unknown[] };
    for (const r of records) console.log(JSON.stringify(r));
    return;
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const show = (b: Uint8Array | null) => {
    if (b === null) return null;
    try {
      const text = utf8.decode(b);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    } catch {
      return Buffer.from(b).toString('base64');
    }
  };
  await withLog(values, async (log) => {
    const config = (await log.topics()).get(topic!);
    if (config === undefined) throw new UsageError(`topic "${topic}" does not exist`);
    if (partition >= config.partitions) throw new UsageError(`--partition ${partition}: "${topic}" has ${config.partitions} partition(s), 0 to ${config.partitions - 1}`);
    const { records } = await log.fetch({ topic: topic!, partition }, offset, { maxRecords: limit });
    for (const r of records) {
      console.log(JSON.stringify({ partition, offset: r.offset, timestamp: r.timestamp, key: show(r.key), value: show(r.value), ...(r.headers && { headers: r.headers }) }));
    }
  });
}

async function backfillCommand(_: string[], values: Values): Promise<void> {
  for (const required of ['lake', 'labels', 'out']) if (values[required] === undefined) throw new UsageError(`--${required} is required; see tributary features backfill --help`);
  try {
    const done = await featuresBackfill({
      lake: str(values, 'lake'),
      labels: str(values, 'labels'),
      out: str(values, 'out'),
      definitions: str(values, 'definitions'),
      export: str(values, 'export'),
      ...(values['prefix'] !== undefined && { prefix: str(values, 'prefix') }),
      ...(values['entity-column'] !== undefined && { entityColumn: str(values, 'entity-column') }),
      ...(values['time-column'] !== undefined && { timeColumn: str(values, 'time-column') }),
    });
    console.log(`wrote ${done.rows} rows to ${str(values, 'out')}: the label columns and ${done.featureColumns.length} feature columns (${done.featureColumns.join(', ')}); ${done.eventsRead} events read`);
  } catch (error) {
    if (error instanceof BackfillInputError) throw new UsageError(error.message);
    throw error;
  }
}

async function runApp([module]: string[], values: Values): Promise<void> {
  const path = resolve(module!);
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${module} is not a file; MODULE is the file that exports the topology`);
  const port = int(values, 'port');
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const threads = values['threads'] === undefined ? undefined : int(values, 'threads');
  if (threads === 0) throw new UsageError('--threads must be at least 1');
  const cacheMaxBytes = values['cache-max-bytes'] === undefined ? undefined : int(values, 'cache-max-bytes');
  const log = await EmbeddedLog.open({ dir: resolve(str(values, 'data-dir')) });
  let failure: StreamsError | undefined;
  const app = new StreamsApp(
    { module: pathToFileURL(path), export: str(values, 'export') },
    {
      applicationId: str(values, 'application-id') ?? module!.replace(/.*\//, '').replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-'),
      log,
      stateDir: resolve(str(values, 'data-dir'), 'state'),
      ...(threads !== undefined && { threads }),
      ...(cacheMaxBytes !== undefined && { cacheMaxBytes }),
      http: { host: str(values, 'host'), port },
      onError: (error) => (failure = error),
    },
  );
  let stopping = false;
  let started = false;
  app.onStateChange((next, previous) => {
    console.log(`[tributary] ${previous} -> ${next}`);
    // The application failed while running (a poison record under log-and-fail...): it has shut
    // down; say why on stderr and exit non-zero rather than leave with 0 and no word. (A failure
    // to start is start()'s to report.)
    if (next === 'NOT_RUNNING' && failure !== undefined && started && !stopping) {
      stopping = true;
      void log.close().finally(() => exit(failure!));
    }
  });
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await log.close();
    process.exit(app.state === 'NOT_RUNNING' ? 0 : 1);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await app.start();
  } catch (error) {
    stopping = true;
    await app.close();
    await log.close();
    if (error instanceof StreamsError && error.code === 'ADDRESS_IN_USE') {
      throw new UsageError(`port ${port} on ${str(values, 'host')} is in use; choose another with --port (--port 0 picks a free one)`);
    }
    throw error;
  }
  started = true;
  console.log(`[tributary] ${app.applicationId} is running; queries at http://${app.httpAddress!.host}:${app.httpAddress!.port}/stores`);
}

/** How the process ends for an error: usage 2, coded 1, anything else (a bug) 1 with its stack. */
function exit(error: unknown, command?: Command): never {
  if (error instanceof UsageError) {
    console.error(`tributary${command === undefined ? '' : ` ${command.name}`}: ${error.message}`);
    process.exit(2);
  }
  if (error instanceof StreamsError) {
    console.error(`tributary: ${error.message} (${error.code})`);
    process.exit(1);
  }
  console.error(`tributary: unexpected error, please report it: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h') return void console.log(generalHelp());
  if (first === '--version' || first === '-v') return void console.log(packageVersion());
  if (first === 'help') {
    if (argv.length === 1) return void console.log(generalHelp());
    const found = find(argv.slice(1));
    if (found === undefined || found.rest.length > 0) throw new UsageError(`no command ${JSON.stringify(argv.slice(1).join(' '))}; see tributary --help`);
    return void console.log(commandHelp(found.command));
  }
  const found = find(argv);
  if (found === undefined) {
    if (first.startsWith('-')) throw new UsageError(`${first} before a command; usage: tributary COMMAND [options] (see tributary --help)`);
    throw new UsageError(`unknown command ${JSON.stringify(first)}; the commands are ${commands.map((c) => c.name).join(', ')} (see tributary --help)`);
  }
  const { command, rest } = found;
  try {
    const { values, args } = parse(command, rest);
    if (values['help'] === true) return void console.log(commandHelp(command));
    await command.run(args, values);
  } catch (error) {
    exit(error, command);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => exit(error));
