#!/usr/bin/env node
/**
 * Writes a seeded synthetic clickstream (apps/generator.ts) as NDJSON, one record a line in the
 * shape `tributary produce` and the HTTP ingest read: `{ "key": userId, "value": ..., "timestamp": ms }`.
 *
 *   node apps/generate.ts --seed 42 --events 10000 [options] > events.ndjson
 *   tributary produce raw-events events.ndjson
 *
 * Output:
 *   (default)              the raw events (topic raw-events): valid events, plus invalid ones at --invalid-rate
 *   --profiles             the CRM profile records (topic profiles) instead: the profiles of the same
 *                          simulation (same seed and options) up to the --events-th raw event
 *   --profiles-file FILE   also: write the profile records to FILE, while the events go to stdout
 *
 * Options: --seed N (default 42), --events N raw events (default 10000), --users N (1000),
 * --items N (500), --start ISO (2024-01-01T00:00:00Z), --late-rate R (0.01), --invalid-rate R (0),
 * --new-user-rate R per hour (1), --new-item-rate R per hour (0.25), --sessions-per-day R (1).
 * A summary goes to stderr unless --quiet.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { ClickstreamGenerator, type ClickstreamOptions } from './generator.ts';

const usage = `usage: node apps/generate.ts [--seed N] [--events N] [--users N] [--items N] [--start ISO]
  [--late-rate R] [--invalid-rate R] [--new-user-rate R] [--new-item-rate R] [--sessions-per-day R]
  [--profiles | --profiles-file FILE] [--quiet]`;

function fail(message: string): never {
  console.error(`generate: ${message}\n${usage}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      seed: { type: 'string', default: '42' },
      events: { type: 'string', default: '10000' },
      users: { type: 'string' },
      items: { type: 'string' },
      start: { type: 'string' },
      'late-rate': { type: 'string' },
      'invalid-rate': { type: 'string' },
      'new-user-rate': { type: 'string' },
      'new-item-rate': { type: 'string' },
      'sessions-per-day': { type: 'string' },
      profiles: { type: 'boolean', default: false },
      'profiles-file': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  fail((error as Error).message);
}
const flags = parsed.values;
if (flags.help) {
  console.log(usage);
  process.exit(0);
}

function integer(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n)) fail(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

function number(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

const count = integer('events', flags.events);
if (count < 0) fail('--events must not be negative');
if (flags.profiles && flags['profiles-file'] !== undefined) fail('--profiles and --profiles-file do not go together');
let startTime: number | undefined;
if (flags.start !== undefined) {
  startTime = Date.parse(flags.start);
  if (Number.isNaN(startTime)) fail(`--start must be an ISO date, got ${JSON.stringify(flags.start)}`);
}

const options: ClickstreamOptions = {
  seed: integer('seed', flags.seed),
  ...(flags.users === undefined ? {} : { users: integer('users', flags.users) }),
  ...(flags.items === undefined ? {} : { items: integer('items', flags.items) }),
  ...(startTime === undefined ? {} : { startTime }),
  lateRate: number('late-rate', flags['late-rate']),
  invalidRate: number('invalid-rate', flags['invalid-rate']),
  newUserRate: number('new-user-rate', flags['new-user-rate']),
  newItemRate: number('new-item-rate', flags['new-item-rate']),
  sessionsPerDay: number('sessions-per-day', flags['sessions-per-day']),
};
let generator: ClickstreamGenerator;
try {
  generator = new ClickstreamGenerator(options);
} catch (error) {
  fail((error as Error).message);
}

// A closed pipe (`| head`) ends the run quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

async function write(stream: NodeJS.WritableStream | WriteStream, text: string): Promise<void> {
  if (text !== '' && !stream.write(text)) await once(stream, 'drain');
}

const line = (key: string | null, value: unknown, timestamp: number) => JSON.stringify({ key, value, timestamp }) + '\n';

const profileFile = flags['profiles-file'] === undefined ? null : createWriteStream(flags['profiles-file']);
const eventsOut = flags.profiles ? null : process.stdout;
const profilesOut = flags.profiles ? process.stdout : profileFile;

// Records in emission order, written in chunks: a user's profile precedes the user's events.
const CHUNK = 1000;
let done = 0;
while (done < count) {
  let events = '';
  let profiles = '';
  for (let n = 0; n < CHUNK && done < count; ) {
    const record = generator.nextRecord();
    const text = line(record.key, record.value, record.timestamp);
    if (record.topic === 'profiles') {
      profiles += text;
    } else {
      events += text;
      n++;
      done++;
    }
  }
  if (profilesOut !== null) await write(profilesOut, profiles);
  if (eventsOut !== null) await write(eventsOut, events);
}
if (profileFile !== null) {
  profileFile.end();
  await once(profileFile, 'finish');
}
if (!flags.quiet) {
  const s = generator.stats;
  console.error(
    `generate: ${s.raw} raw events (${s.valid} valid, ${s.invalid} invalid, ${s.late} late), ${s.profiles} profiles, ` +
      `${s.sessions} sessions, ${s.users} users (${s.newUsers} new), ${s.items} items (${s.newItems} new), ` +
      `up to ${new Date(generator.now).toISOString()}`,
  );
}
