#!/usr/bin/env node
/**
 * The tributary command line.
 *
 *   tributary topics [--data-dir DIR | --url URL]
 *   tributary topics create NAME [--partitions N] [--compact] [--data-dir DIR]
 *   tributary produce TOPIC [FILE] [--data-dir DIR | --url URL] [--key-format string|json] [--value-format string|json]
 *   tributary consume TOPIC [--partition P] [--from OFFSET] [--limit N] [--data-dir DIR | --url URL]
 *   tributary run MODULE [--export NAME] [--application-id ID] [--data-dir DIR] [--host HOST] [--port PORT] [--threads N]
 *
 * `produce` reads NDJSON lines `{ "key": ..., "value": ..., "timestamp"?: ms }` from FILE or stdin.
 * With --url the command talks to a running application over HTTP (its log is locked by it);
 * otherwise it opens the embedded log in --data-dir (default ./.data) itself. The HTTP token, when
 * the application has one, comes from TRIBUTARY_HTTP_TOKEN (for `run` and for --url alike).
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '../connectors/embedded/index.ts';
import { Serdes, StreamsApp, StreamsError, partitionForKey, type LogRecord, type Serde } from '../index.ts';
import { parseRecords } from '../engine/runtime/http-server.ts';

const usage = `usage:
  tributary topics [--data-dir DIR | --url URL]
  tributary topics create NAME [--partitions N] [--compact] [--data-dir DIR]
  tributary produce TOPIC [FILE] [--data-dir DIR | --url URL] [--key-format string|json] [--value-format string|json]
  tributary consume TOPIC [--partition P] [--from OFFSET] [--limit N] [--data-dir DIR | --url URL]
  tributary run MODULE [--export NAME] [--application-id ID] [--data-dir DIR] [--host HOST] [--port PORT] [--threads N]

The HTTP server listens on --host (default 127.0.0.1). Set TRIBUTARY_HTTP_TOKEN to require a bearer
token (and send it with --url).`;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'data-dir': { type: 'string', default: '.data' },
    url: { type: 'string' },
    partitions: { type: 'string', default: '1' },
    compact: { type: 'boolean', default: false },
    'key-format': { type: 'string', default: 'string' },
    'value-format': { type: 'string', default: 'json' },
    partition: { type: 'string', default: '0' },
    from: { type: 'string', default: '0' },
    limit: { type: 'string', default: '100' },
    export: { type: 'string', default: 'topology' },
    'application-id': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function int(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function fail(message: string): never {
  console.error(`tributary: ${message}`);
  process.exit(2);
}

function serdeOf(format: string | undefined, what: string): Serde<unknown> {
  if (format === 'string') return Serdes.string() as Serde<unknown>;
  if (format === 'json') return Serdes.json<unknown>();
  return fail(`--${what}-format must be string or json, got ${JSON.stringify(format)}`);
}

async function http(method: string, path: string, body?: string): Promise<unknown> {
  const token = process.env['TRIBUTARY_HTTP_TOKEN'];
  const headers: Record<string, string> = {
    ...(token !== undefined && token !== '' && { authorization: `Bearer ${token}` }),
    ...(body !== undefined && { 'content-type': body.trimStart().startsWith('[') ? 'application/json' : 'application/x-ndjson' }),
  };
  let res: Response;
  try {
    res = await fetch(new URL(path, flags.url), body === undefined ? { method, headers } : { method, headers, body });
  } catch (error) {
    fail(`${method} ${new URL(path, flags.url).href}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  const json = (await res.json().catch(() => ({}))) as { error?: string; code?: string };
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${json.error ?? ''}${json.code === undefined ? '' : ` (${json.code})`}`);
  return json;
}

async function withLog<T>(fn: (log: EmbeddedLog) => Promise<T>): Promise<T> {
  const log = await EmbeddedLog.open({ dir: resolve(flags['data-dir']!) });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

/** The whole input as strict UTF-8: bytes that are not UTF-8 are refused, not merged into U+FFFD. */
async function readLines(file: string | undefined): Promise<string> {
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of input) chunks.push(chunk as Buffer);
  } catch (error) {
    fail(`cannot read ${file ?? 'stdin'}: ${(error as Error).message}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)).replaceAll('\r\n', '\n');
  } catch {
    return fail(`${file ?? 'stdin'} is not valid UTF-8`);
  }
}

async function topics(): Promise<void> {
  if (positionals[1] === 'create') {
    const name = positionals[2] ?? fail('topics create needs a NAME');
    await withLog((log) => log.createTopic(name, { partitions: int('partitions', flags.partitions), cleanupPolicy: flags.compact ? 'compact' : 'delete' }));
    console.log(`created ${name}`);
    return;
  }
  if (flags.url !== undefined) {
    for (const t of (await http('GET', '/topics')) as { name: string; partitions: number; cleanupPolicy: string; endOffsets: number[] }[]) {
      console.log(`${t.name}\tpartitions=${t.partitions}\t${t.cleanupPolicy}\tend=${t.endOffsets.join(',')}`);
    }
    return;
  }
  await withLog(async (log) => {
    for (const [name, config] of [...(await log.topics())].sort()) {
      const ends = Array.from({ length: config.partitions }, (_, p) => log.offsets({ topic: name, partition: p }).end);
      console.log(`${name}\tpartitions=${config.partitions}\t${config.cleanupPolicy}\tend=${ends.join(',')}`);
    }
  });
}

async function produce(): Promise<void> {
  const topic = positionals[1] ?? fail('produce needs a TOPIC');
  const text = await readLines(positionals[2]);
  if (flags.url !== undefined) {
    const { accepted } = (await http('POST', `/topics/${encodeURIComponent(topic)}/records`, text)) as { accepted: number };
    console.log(`produced ${accepted} records to ${topic}`);
    return;
  }
  const keySerde = serdeOf(flags['key-format'], 'key');
  const valueSerde = serdeOf(flags['value-format'], 'value');
  let rows: unknown[];
  try {
    rows = parseRecords(text);
  } catch (error) {
    fail((error as Error).message);
  }
  await withLog(async (log) => {
    const config = (await log.topics()).get(topic) ?? fail(`topic "${topic}" does not exist; create it with: tributary topics create ${topic}`);
    const batches = new Map<number, LogRecord[]>();
    rows.forEach((row, i) => {
      const r = row as { key?: unknown; value?: unknown; timestamp?: number };
      if (typeof row !== 'object' || row === null || !('value' in r)) fail(`record ${i + 1}: expected { key, value, timestamp? }`);
      let key: Uint8Array | null;
      let value: Uint8Array | null;
      try {
        key = r.key === undefined || r.key === null ? null : keySerde.serialize(r.key, topic);
        value = r.value === null ? null : valueSerde.serialize(r.value, topic);
      } catch (error) {
        fail(`record ${i + 1}: ${(error as Error).message}`);
      }
      const p = key === null ? i % config.partitions : partitionForKey(key, config.partitions);
      let list = batches.get(p);
      if (list === undefined) batches.set(p, (list = []));
      list.push({ key, value, timestamp: r.timestamp ?? Date.now() });
    });
    await log.produce([...batches].map(([partition, records]) => ({ topic, partition, records })));
  });
  console.log(`produced ${rows.length} records to ${topic}`);
}

async function consume(): Promise<void> {
  const topic = positionals[1] ?? fail('consume needs a TOPIC');
  const partition = int('partition', flags.partition);
  const offset = int('from', flags.from);
  const limit = int('limit', flags.limit);
  if (flags.url !== undefined) {
    const query = `partition=${partition}&offset=${offset}&limit=${limit}`;
    const { records } = (await http('GET', `/topics/${encodeURIComponent(topic)}/records?${query}`)) as { records: unknown[] };
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
  await withLog(async (log) => {
    const { records } = await log.fetch({ topic, partition }, offset, { maxRecords: limit });
    for (const r of records) {
      console.log(JSON.stringify({ partition, offset: r.offset, timestamp: r.timestamp, key: show(r.key), value: show(r.value), ...(r.headers && { headers: r.headers }) }));
    }
  });
}

async function run(): Promise<void> {
  const module = positionals[1] ?? fail('run needs a MODULE that exports a topology');
  const url = pathToFileURL(resolve(module));
  const log = await EmbeddedLog.open({ dir: resolve(flags['data-dir']!) });
  let failure: StreamsError | undefined;
  const app = new StreamsApp(
    { module: url, export: flags.export! },
    {
      applicationId: flags['application-id'] ?? module.replace(/.*\//, '').replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-'),
      log,
      stateDir: resolve(flags['data-dir']!, 'state'),
      ...(flags.threads !== undefined && { threads: int('threads', flags.threads) }),
      http: { host: flags.host!, port: int('port', flags.port) },
      onError: (error) => (failure = error),
    },
  );
  let stopping = false;
  app.onStateChange((next, previous) => {
    console.log(`[tributary] ${previous} -> ${next}`);
    // The application failed while running (a poison record under log-and-fail...): it has shut
    // down; say why on stderr and exit non-zero rather than leave with 0 and no word.
    if (next === 'NOT_RUNNING' && failure !== undefined && !stopping) {
      stopping = true;
      void log.close().finally(() => exitWith(failure!));
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
    throw error;
  }
  console.log(`[tributary] ${app.applicationId} is running; queries at http://${app.httpAddress!.host}:${app.httpAddress!.port}/stores`);
}

const commands: Record<string, () => Promise<void>> = { topics, produce, consume, run };
const command = positionals[0];
if (flags.help || command === undefined || commands[command] === undefined) {
  console.log(usage);
  process.exit(command === undefined || flags.help ? 0 : 2);
}
/** A coded error is the user's to act on: its message and code, no stack trace; exit 1. */
function exitWith(error: unknown): never {
  if (!(error instanceof StreamsError)) fail(String(error instanceof Error ? error.stack : error));
  console.error(`tributary: ${error.message} (${error.code})`);
  process.exit(1);
}

commands[command]!().catch(exitWith);
