/**
 * The event model of the personalization apps: clickstream events from web and app, transactions,
 * and CRM profile changes, with Avro schemas (avsc) for the topics.
 *
 * Topics: `raw-events` (anything, JSON, as ingested), `events` (validated, Avro, keyed by userId),
 * `events-dlq` (rejected, with the reason), `profiles` (CRM profile changes, Avro, keyed by userId).
 */
import { Serdes, type Serde } from '../engine/index.ts';

export const EVENT_TYPES = ['page_view', 'click', 'add_to_cart', 'purchase', 'search', 'profile_update'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const SOURCES = ['web', 'app', 'txn', 'crm'] as const;
export type EventSource = (typeof SOURCES)[number];

/** One clickstream event. Fields that do not apply to a type are null. */
export interface Event {
  readonly eventId: string;
  readonly userId: string;
  readonly type: EventType;
  /** Event time, ms since the epoch. */
  readonly timestamp: number;
  readonly source: EventSource;
  readonly itemId: string | null;
  readonly category: string | null;
  /** Unit price (purchases, carts, viewed items). */
  readonly price: number | null;
  readonly quantity: number | null;
  readonly page: string | null;
  readonly referrer: string | null;
  readonly utmSource: string | null;
  readonly utmCampaign: string | null;
  /** Search query text. */
  readonly query: string | null;
}

/** A CRM profile (the latest per user is the table). */
export interface Profile {
  readonly userId: string;
  readonly name: string;
  readonly country: string;
  readonly tier: 'new' | 'regular' | 'vip';
  readonly marketingOptIn: boolean;
  readonly updatedAt: number;
  /** Where the user signed up (`web`, `app`); null or absent when the CRM does not know. */
  readonly signupChannel?: string | null;
}

const nullable = (type: unknown) => ['null', type];

export const eventSchema = {
  type: 'record',
  name: 'Event',
  namespace: 'tributary.apps',
  fields: [
    { name: 'eventId', type: 'string' },
    { name: 'userId', type: 'string' },
    { name: 'type', type: { type: 'enum', name: 'EventType', symbols: [...EVENT_TYPES] } },
    { name: 'timestamp', type: 'long' },
    { name: 'source', type: { type: 'enum', name: 'EventSource', symbols: [...SOURCES] } },
    { name: 'itemId', type: nullable('string'), default: null },
    { name: 'category', type: nullable('string'), default: null },
    { name: 'price', type: nullable('double'), default: null },
    { name: 'quantity', type: nullable('int'), default: null },
    { name: 'page', type: nullable('string'), default: null },
    { name: 'referrer', type: nullable('string'), default: null },
    { name: 'utmSource', type: nullable('string'), default: null },
    { name: 'utmCampaign', type: nullable('string'), default: null },
    { name: 'query', type: nullable('string'), default: null },
  ],
} as const;

export const profileSchema = {
  type: 'record',
  name: 'Profile',
  namespace: 'tributary.apps',
  fields: [
    { name: 'userId', type: 'string' },
    { name: 'name', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'tier', type: { type: 'enum', name: 'Tier', symbols: ['new', 'regular', 'vip'] } },
    { name: 'marketingOptIn', type: 'boolean' },
    { name: 'updatedAt', type: 'long' },
    // Added with a default, so profiles written before it still read (as null).
    { name: 'signupChannel', type: nullable('string'), default: null },
  ],
} as const;

export const eventSerde: Serde<Event> = Serdes.avro<Event>(eventSchema as never);
export const profileSerde: Serde<Profile> = Serdes.avro<Profile>(profileSchema as never);

/** Why an event was rejected: a code and a human-readable reason. */
export interface Rejection {
  readonly code: 'NOT_AN_OBJECT' | 'MISSING_FIELD' | 'BAD_TYPE' | 'BAD_VALUE';
  readonly reason: string;
}

const optionalString = ['itemId', 'category', 'page', 'referrer', 'utmSource', 'utmCampaign', 'query'] as const;

/**
 * Validates a raw event (as ingested, JSON) and normalizes it to an Event: missing optional fields
 * become null. The rules per type: views, clicks and carts name an item; purchases name an item and
 * a price >= 0 and a quantity >= 1; searches carry a query.
 */
export function validateEvent(raw: unknown): { ok: true; event: Event } | { ok: false; rejection: Rejection } {
  const fail = (code: Rejection['code'], reason: string) => ({ ok: false as const, rejection: { code, reason } });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('NOT_AN_OBJECT', 'an event must be a JSON object');
  const r = raw as Record<string, unknown>;
  for (const field of ['eventId', 'userId', 'type', 'timestamp'] as const) {
    if (r[field] === undefined || r[field] === null || r[field] === '') return fail('MISSING_FIELD', `missing ${field}`);
  }
  if (typeof r.eventId !== 'string' || typeof r.userId !== 'string') return fail('BAD_TYPE', 'eventId and userId must be strings');
  if (!EVENT_TYPES.includes(r.type as EventType)) return fail('BAD_VALUE', `unknown event type ${JSON.stringify(r.type)}`);
  // 8.64e15 ms is the last instant a JavaScript Date can hold (the lake sink names files by date).
  if (typeof r.timestamp !== 'number' || !Number.isSafeInteger(r.timestamp) || r.timestamp < 0 || r.timestamp > 8.64e15) {
    return fail('BAD_VALUE', 'timestamp must be an integer from 0 to 8.64e15 (ms since the epoch)');
  }
  const source = r.source ?? 'web';
  if (!SOURCES.includes(source as EventSource)) return fail('BAD_VALUE', `unknown source ${JSON.stringify(source)}`);
  for (const field of optionalString) {
    if (r[field] !== undefined && r[field] !== null && typeof r[field] !== 'string') return fail('BAD_TYPE', `${field} must be a string`);
  }
  for (const field of ['price', 'quantity'] as const) {
    if (r[field] !== undefined && r[field] !== null && (typeof r[field] !== 'number' || !Number.isFinite(r[field]))) {
      return fail('BAD_TYPE', `${field} must be a number`);
    }
  }
  const event: Event = {
    eventId: r.eventId,
    userId: r.userId,
    type: r.type as EventType,
    timestamp: r.timestamp,
    source: source as EventSource,
    itemId: (r.itemId as string | undefined) ?? null,
    category: (r.category as string | undefined) ?? null,
    price: (r.price as number | undefined) ?? null,
    quantity: r.quantity === undefined || r.quantity === null ? null : Math.trunc(r.quantity as number),
    page: (r.page as string | undefined) ?? null,
    referrer: (r.referrer as string | undefined) ?? null,
    utmSource: (r.utmSource as string | undefined) ?? null,
    utmCampaign: (r.utmCampaign as string | undefined) ?? null,
    query: (r.query as string | undefined) ?? null,
  };
  if ((event.type === 'page_view' || event.type === 'click' || event.type === 'add_to_cart' || event.type === 'purchase') && event.itemId === null) {
    return fail('MISSING_FIELD', `a ${event.type} needs an itemId`);
  }
  if (event.type === 'purchase') {
    if (event.price === null || event.price < 0) return fail('BAD_VALUE', 'a purchase needs a price >= 0');
    if (event.quantity === null || event.quantity < 1) return fail('BAD_VALUE', 'a purchase needs a quantity >= 1');
  }
  if (event.type === 'search' && event.query === null) return fail('MISSING_FIELD', 'a search needs a query');
  return { ok: true, event };
}
