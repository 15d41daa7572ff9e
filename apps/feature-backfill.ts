/**
 * The apps' feature definitions as `tributary features backfill` runs them over the events lake:
 * how a lake row becomes the `events` record the topology read (keyed by user, at the event's
 * time). `backfill` is user activity (labels keyed by user id), `itemBackfill` item activity
 * (labels keyed by item id: `--export itemBackfill`).
 *
 * The lake's columns are those `npm start` writes the `events` topic with (the Parquet lake sink,
 * `<data>/lake/events/date=.../hour=.../*.parquet`); `eventLakeColumns` and `eventLakeRow` are that
 * mapping, so that a test can write a lake the same way.
 */
import type { LakeBackfill, PastEvent } from '../features/index.ts';
import type { LakeRow } from '../connectors/sinks/lake/index.ts';
import { EVENT_TYPES, SOURCES, type Event } from './events.ts';
import { itemActivity, userActivity } from './feature-definitions.ts';

/** The columns of the events lake. */
export const eventLakeColumns = {
  event_id: 'STRING',
  user_id: 'STRING',
  type: 'STRING',
  ts: 'TIMESTAMP',
  source: 'STRING',
  item_id: 'STRING',
  category: 'STRING',
  price: 'DOUBLE',
  quantity: 'INT32',
  page: 'STRING',
  referrer: 'STRING',
  utm_source: 'STRING',
  utm_campaign: 'STRING',
  query: 'STRING',
} as const;

/** The lake row of an event. */
export function eventLakeRow(e: Event): LakeRow<typeof eventLakeColumns> {
  return {
    event_id: e.eventId,
    user_id: e.userId,
    type: e.type,
    ts: e.timestamp,
    source: e.source,
    item_id: e.itemId,
    category: e.category,
    price: e.price,
    quantity: e.quantity,
    page: e.page,
    referrer: e.referrer,
    utm_source: e.utmSource,
    utm_campaign: e.utmCampaign,
    query: e.query,
  };
}

/** Milliseconds of a time as Parquet readers return it (Date, bigint or number). */
function ms(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw new TypeError(`ts must be a timestamp, got ${typeof v}`);
}

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The event a lake row was written from (the key is the user, as on the `events` topic). */
export function eventOfLakeRow(row: Readonly<Record<string, unknown>>): PastEvent<string, Event> | null {
  const type = row['type'] as Event['type'];
  const source = row['source'] as Event['source'];
  if (typeof row['user_id'] !== 'string' || !EVENT_TYPES.includes(type)) return null;
  const e: Event = {
    eventId: String(row['event_id']),
    userId: row['user_id'],
    type,
    timestamp: ms(row['ts']),
    source: SOURCES.includes(source) ? source : 'web',
    itemId: text(row['item_id']),
    category: text(row['category']),
    price: num(row['price']),
    quantity: num(row['quantity']),
    page: text(row['page']),
    referrer: text(row['referrer']),
    utmSource: text(row['utm_source']),
    utmCampaign: text(row['utm_campaign']),
    query: text(row['query']),
  };
  return { key: e.userId, value: e, timestamp: e.timestamp };
}

/** User activity (events by type over 1h, 1d, 7d) per user id. */
export const backfill: LakeBackfill<string, Event> = { definition: userActivity, prefix: 'events', record: eventOfLakeRow };

/** Item activity (events by type over 5m, 1h, 1d) per item id. */
export const itemBackfill: LakeBackfill<string, Event> = { definition: itemActivity, prefix: 'events', record: eventOfLakeRow };
