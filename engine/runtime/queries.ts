/**
 * Interactive queries against one task's store, answered as JSON-ready values. Keys arrive as
 * strings and are decoded with the store's key serde.
 */
import type { Serde } from '../serde.ts';
import type { AnyStore } from '../state/store.ts';
import type { StoreQuery } from './messages.ts';

export interface QueryResult {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A key from its string form: the string's UTF-8 bytes if the serde decodes them to a key that
 * encodes back to the same bytes (strings, JSON); otherwise the string, a number or JSON value it
 * spells, whichever the serde accepts (numbers, MessagePack).
 */
export function parseKey(text: string, serde: Serde<unknown>): { ok: true; key: unknown } | { ok: false } {
  const bytes = Buffer.from(text);
  try {
    const key = serde.deserialize(bytes, 'query');
    if (Buffer.from(serde.serialize(key, 'query')).equals(bytes)) return { ok: true, key };
  } catch {
    // not the serde's own encoding; try the candidates below
  }
  const candidates: unknown[] = [text];
  if (text.trim() !== '' && Number.isFinite(Number(text))) candidates.unshift(Number(text));
  try {
    candidates.push(JSON.parse(text));
  } catch {
    // not JSON
  }
  for (const candidate of candidates) {
    try {
      serde.serialize(candidate, 'query');
      return { ok: true, key: candidate };
    } catch {
      // the serde rejects this form
    }
  }
  return { ok: false };
}

/**
 * Checks a query that arrived from outside (another process's /internal/query, or a client): its
 * type is known and its fields have their types. Done before it reaches a stream thread.
 */
export function validateQuery(query: unknown): { ok: true; query: StoreQuery } | { ok: false; error: string } {
  const q = query as Record<string, unknown> | null;
  const isString = (v: unknown) => typeof v === 'string';
  const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
  const isTime = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  if (typeof q !== 'object' || q === null) return { ok: false, error: 'a query must be a JSON object with a "type"' };
  switch (q['type']) {
    case 'key':
    case 'sessions':
      return isString(q['key']) ? { ok: true, query: q as unknown as StoreQuery } : { ok: false, error: `a "${String(q['type'])}" query needs "key" as a string` };
    case 'range':
      if (!optionalString(q['from']) || !optionalString(q['to'])) return { ok: false, error: 'a "range" query takes "from" and "to" as strings' };
      if (q['after'] !== undefined && !(typeof q['after'] === 'string' && /^(?:[0-9a-f]{2})+$/.test(q['after']))) return { ok: false, error: '"after" must be a cursor from an earlier page' };
      if (q['limit'] !== undefined && !(Number.isSafeInteger(q['limit']) && (q['limit'] as number) > 0)) return { ok: false, error: '"limit" must be a positive integer' };
      return { ok: true, query: q as unknown as StoreQuery };
    case 'windows':
      return isString(q['key']) && isTime(q['from']) && isTime(q['to'])
        ? { ok: true, query: q as unknown as StoreQuery }
        : { ok: false, error: 'a "windows" query needs "key" as a string and "from", "to" as integer times (ms)' };
    default:
      return { ok: false, error: `unknown query type ${JSON.stringify(q['type'])}: use "key", "range", "windows" or "sessions"` };
  }
}

export function runQuery(store: AnyStore, keySerde: Serde<unknown>, query: StoreQuery): QueryResult {
  const key = (text: string) => parseKey(text, keySerde);
  switch (query.type) {
    case 'key': {
      if (store.kind !== 'key-value') return { status: 400, body: { error: `store "${store.name}" is a ${store.kind} store; use /windows or /sessions` } };
      const k = key(query.key);
      if (!k.ok) return { status: 400, body: { error: `key ${JSON.stringify(query.key)} cannot be decoded with the store's key serde` } };
      const row = store.getWithTimestamp(k.key);
      return row === undefined ? { status: 404, body: { error: 'no such key' } } : { status: 200, body: { key: k.key, value: row.value, timestamp: row.timestamp } };
    }
    case 'range': {
      if (store.kind !== 'key-value') return { status: 400, body: { error: `store "${store.name}" is a ${store.kind} store` } };
      const from = query.from === undefined ? undefined : key(query.from);
      const to = query.to === undefined ? undefined : key(query.to);
      if (from?.ok === false || to?.ok === false) return { status: 400, body: { error: 'a range bound cannot be decoded with the key serde' } };
      if (query.limit === undefined) return { status: 200, body: store.range(from?.key, to?.key) };
      // A page: rows after the cursor (the last row of the previous page, exclusive).
      let lower = from?.key;
      if (query.after !== undefined) {
        try {
          lower = keySerde.deserialize(Buffer.from(query.after, 'hex'), 'query');
        } catch {
          return { status: 400, body: { error: 'the cursor does not decode with the store\'s key serde; it must come from an earlier page of this store' } };
        }
      }
      const rows = store
        .range(lower, to?.key, query.after === undefined ? query.limit : query.limit + 1)
        .map((row) => ({ key: row.key, value: row.value, cursor: Buffer.from(keySerde.serialize(row.key, 'query')).toString('hex') }))
        .filter((row) => query.after === undefined || row.cursor > query.after);
      return { status: 200, body: rows.slice(0, query.limit) };
    }
    case 'windows': {
      if (store.kind !== 'window') return { status: 400, body: { error: `store "${store.name}" is a ${store.kind} store, not a window store` } };
      const k = key(query.key);
      if (!k.ok) return { status: 400, body: { error: `key ${JSON.stringify(query.key)} cannot be decoded with the store's key serde` } };
      return { status: 200, body: store.fetch(k.key, query.from, query.to) };
    }
    case 'sessions': {
      if (store.kind !== 'session') return { status: 400, body: { error: `store "${store.name}" is a ${store.kind} store, not a session store` } };
      const k = key(query.key);
      if (!k.ok) return { status: 400, body: { error: `key ${JSON.stringify(query.key)} cannot be decoded with the store's key serde` } };
      return { status: 200, body: store.fetch(k.key).map((s) => ({ window: s.key.window, value: s.value })) };
    }
  }
}
