/**
 * Records of the log over HTTP: listing topics, reading a partition decoded with the serdes the
 * application reads or writes the topic with, and ingesting JSON rows encoded with the source's
 * serdes. Errors are HttpErrors naming the bad row or parameter; nothing is written unless every
 * row of a request encodes.
 */
import { describeCause } from '../errors.ts';
import type { Log, LogRecord, PartitionBatch } from '../log.ts';
import type { Serde } from '../serde.ts';
import type { Topology } from '../topology.ts';
import { HttpError } from './http-error.ts';
import { partitionForKey } from './partitioner.ts';

/** Every topic with its configuration and the end offset of each partition, by name. */
export async function listTopics(log: Log): Promise<unknown[]> {
  const topics = await log.topics();
  const out = [];
  for (const [name, config] of [...topics].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const ends = await Promise.all(Array.from({ length: config.partitions }, (_, p) => log.fetch({ topic: name, partition: p }, 0, { maxRecords: 0 }).then((r) => r.endOffset)));
    out.push({ name, ...config, endOffsets: ends });
  }
  return out;
}

/** Reads records of a topic (`partition`, `offset`, `limit`), decoded with the app's serdes when it reads or writes the topic. */
export async function readRecords(log: Log, topology: Topology | undefined, topic: string, query: ReadonlyMap<string, string>): Promise<unknown> {
  const int = (name: string, fallback: number, max: number) => {
    const raw = query.get(name);
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new HttpError(400, `${name} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const config = (await log.topics()).get(topic);
  if (config === undefined) throw new HttpError(404, `topic "${topic}" does not exist`);
  const partition = int('partition', 0, config.partitions - 1);
  const limit = int('limit', 100, 10_000);
  const result = await log.fetch({ topic, partition }, int('offset', 0, Number.MAX_SAFE_INTEGER), { maxRecords: limit }).catch((error: unknown) => {
    throw new HttpError(400, describeCause(error));
  });
  const decode = decoderFor(topology, topic);
  return {
    records: result.records.map((r) => ({
      partition,
      offset: r.offset,
      timestamp: r.timestamp,
      key: decode.key(r.key),
      value: decode.value(r.value),
      ...(r.headers !== undefined && { headers: r.headers }),
    })),
    nextOffset: result.nextOffset,
    endOffset: result.endOffset,
  };
}

/** The serdes records of `topic` are written with: those of the topology's source. 404 for a topic the application does not read. */
export function ingestSerdes(topology: Topology | undefined, topic: string): { readonly keySerde: Serde<unknown>; readonly valueSerde: Serde<unknown> } {
  const source = topology?.sourceFor(topic);
  if (source === undefined) throw new HttpError(404, `topic "${topic}" is not an input of this application, so its serdes are unknown`);
  return source;
}

/** Encodes rows `{ key, value, timestamp? }` (JSON array or NDJSON text) and appends them; returns how many. */
export async function ingestRecords(log: Log, serdes: ReturnType<typeof ingestSerdes>, topic: string, text: string): Promise<number> {
  const rows = parseRecords(text);
  const partitions = (await log.topics()).get(topic)?.partitions;
  if (partitions === undefined) throw new HttpError(404, `topic "${topic}" does not exist`);
  const batches = new Map<number, LogRecord[]>();
  rows.forEach((row, i) => {
    const where = `record ${i + 1}`;
    if (typeof row !== 'object' || row === null || !('value' in row)) throw new HttpError(400, `${where}: expected an object { key, value, timestamp? }`);
    const r = row as { key?: unknown; value: unknown; timestamp?: unknown };
    if (r.timestamp !== undefined && (typeof r.timestamp !== 'number' || !Number.isSafeInteger(r.timestamp) || r.timestamp < 0)) {
      throw new HttpError(400, `${where}: timestamp must be a non-negative integer (ms)`);
    }
    let key: Uint8Array | null;
    let value: Uint8Array | null;
    try {
      key = r.key === undefined || r.key === null ? null : serdes.keySerde.serialize(r.key, topic);
    } catch (error) {
      throw new HttpError(400, `${where}: key does not fit the topic's key serde: ${describeCause(error)}`);
    }
    try {
      value = r.value === null ? null : serdes.valueSerde.serialize(r.value, topic);
    } catch (error) {
      throw new HttpError(400, `${where}: value does not fit the topic's value serde: ${describeCause(error)}`);
    }
    const p = key === null ? i % partitions : partitionForKey(key, partitions);
    let list = batches.get(p);
    if (list === undefined) batches.set(p, (list = []));
    list.push({ key, value, timestamp: (r.timestamp as number | undefined) ?? Date.now() });
  });
  const produce: PartitionBatch[] = [...batches].map(([partition, records]) => ({ topic, partition, records }));
  await log.produce(produce);
  return rows.length;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes without a known serde: UTF-8 text when they are, else base64 (by the JSON replacer). */
export function rawValue(bytes: Uint8Array | null): unknown {
  if (bytes === null) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes;
  }
}

function decoderFor(topology: Topology | undefined, topic: string): { key: (b: Uint8Array | null) => unknown; value: (b: Uint8Array | null) => unknown } {
  const source = topology?.sourceFor(topic);
  let serdes: { key: Partial<Serde<unknown>>; value: Partial<Serde<unknown>> } | undefined =
    source === undefined ? undefined : { key: source.keySerde, value: source.valueSerde };
  if (serdes === undefined) {
    const sink = topology?.nodes().find((n) => n.kind === 'sink' && n.topic === topic);
    if (sink?.kind === 'sink') serdes = { key: sink.keySerde, value: sink.valueSerde };
  }
  const with_ = (serde: Partial<Serde<unknown>> | undefined) => (bytes: Uint8Array | null) => {
    if (bytes === null) return null;
    if (serde?.deserialize === undefined) return rawValue(bytes);
    try {
      return serde.deserialize(bytes, topic);
    } catch {
      return rawValue(bytes);
    }
  };
  return { key: with_(serdes?.key), value: with_(serdes?.value) };
}

/** A JSON array, or NDJSON (one JSON value per line). Names the bad line on error. */
export function parseRecords(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new HttpError(400, 'empty body: send a JSON array or NDJSON of { key, value, timestamp? }');
  if (trimmed.startsWith('[')) {
    try {
      const rows = JSON.parse(trimmed) as unknown;
      if (!Array.isArray(rows)) throw new Error('not an array');
      return rows;
    } catch (error) {
      throw new HttpError(400, `body is not a valid JSON array: ${describeCause(error)}`);
    }
  }
  const rows: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      rows.push(JSON.parse(line));
    } catch (error) {
      throw new HttpError(400, `line ${i + 1} is not valid JSON: ${describeCause(error)}`);
    }
  });
  return rows;
}

