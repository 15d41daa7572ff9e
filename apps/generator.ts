/**
 * A seeded synthetic clickstream for the personalization apps, modelled on Interana eventsim and
 * calibrated on public e-commerce data sets (see the research notes):
 *
 * - users with 1-3 preferred categories and a heavy-tailed activity level; items with a price and a
 *   category, and Zipf popularity by rank within each category;
 * - sessions: arrivals are a Poisson process damped by a day/night cycle (fewer sessions at night,
 *   a little more at weekends); a session starts at least 30 minutes after the user's previous event;
 *   session lengths are log-normal (median 6 events, p90 about 39, as OTTO); gaps between the events
 *   of a session are log-normal (median 40 s) and never exceed 20 minutes;
 * - a funnel over item events of about 96.7% views (page_view or click), 2.5% add_to_cart and 0.8%
 *   purchase (Retailrocket), plus searches (3% of events by default);
 * - the first event of a session carries the referrer and UTM campaign (campaigns change weekly);
 * - about 1% of events are delivered late: their timestamp is their true event time, but they are
 *   emitted up to `maxLatenessMs` later, after events with later timestamps (out of order);
 * - new users (cold start: their first session starts at sign-up) and new items appear over time;
 * - CRM profiles are a separate stream: one per initial user at the start, one per new user at
 *   sign-up, tier upgrades after purchases, and occasional random changes;
 * - optionally a small share of invalid raw events (for the dead-letter path).
 *
 * Everything is driven by a small seeded PRNG (sfc32): the same options give the same records.
 * Late delivery and invalid injection draw from their own PRNG streams, so changing `lateRate`
 * or `invalidRate` does not change the valid events themselves (only their order, and the
 * injected extras). Generation is streaming: state is bounded by the users and items (plus the
 * few late events in flight), and the output of consecutive calls does not depend on batch sizes.
 *
 * Times are UTC; ids are `u<n>` for users, `i<n>` for items (n from 0, new ones continue the
 * numbering). Library: `new ClickstreamGenerator({ seed })`, then `nextEvents(count)` or
 * `nextRecord()`. CLI: apps/generate.ts.
 */
import type { Event, EventSource, EventType, Profile } from './events.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The inactivity gap that separates sessions (as GA4, Snowplow and the topology). */
export const SESSION_GAP_MS = 30 * MINUTE;
/** No two consecutive events of one session are further apart than this. */
export const MAX_IN_SESSION_GAP_MS = 20 * MINUTE;

export const DEFAULT_CATEGORIES: readonly string[] = [
  'electronics',
  'books',
  'fashion',
  'home',
  'beauty',
  'sports',
  'toys',
  'grocery',
  'garden',
  'automotive',
  'health',
  'music',
];

/** Shares among item events (views, carts, purchases), from Retailrocket; the rest are views. */
export const DEFAULT_FUNNEL = { addToCart: 0.025, purchase: 0.008 } as const;

export interface ClickstreamOptions {
  /** The PRNG seed (an integer; the same seed and options give the same output). */
  readonly seed: number;
  /** Initial number of users (default 1000). */
  readonly users?: number;
  /** Initial number of items (default 500). */
  readonly items?: number;
  /** Category names (default DEFAULT_CATEGORIES, 12). */
  readonly categories?: readonly string[];
  /** Simulated start, ms since the epoch (default 2024-01-01T00:00:00Z, a Monday). */
  readonly startTime?: number;
  /** New users per simulated hour, Poisson, damped at night like sessions (default 1). */
  readonly newUserRate?: number;
  /** New items per simulated hour, Poisson (default 0.25). */
  readonly newItemRate?: number;
  /** Share of valid events delivered late, out of order (default 0.01). */
  readonly lateRate?: number;
  /** A late event is emitted between 5 s and this long after its timestamp (default 3 minutes). */
  readonly maxLatenessMs?: number;
  /** Share of extra invalid raw events injected, which validateEvent rejects (default 0). */
  readonly invalidRate?: number;
  /** Share of valid events that are searches (default 0.03). */
  readonly searchRate?: number;
  /** Shares of add_to_cart and purchase among item events (default DEFAULT_FUNNEL). */
  readonly funnel?: { readonly addToCart: number; readonly purchase: number };
  /** Mean sessions per user per day (default 1; per-user levels are log-normal around it). */
  readonly sessionsPerDay?: number;
  /** Random CRM profile changes per user per day (default 0.02). */
  readonly profileUpdateRate?: number;
  /** Zipf exponent of item popularity by rank within a category (default 1). */
  readonly zipfExponent?: number;
  /** Probability that a view draws its category from the user's preferred ones (default 0.85). */
  readonly preferenceStrength?: number;
}

/** One output record, in the NDJSON shape of `tributary produce` / HTTP ingest, with its topic. */
export interface GeneratedRecord {
  readonly topic: 'raw-events' | 'profiles';
  /** The userId (null only for an invalid event without a usable userId). */
  readonly key: string | null;
  /** An Event, an invalid raw object (topic raw-events), or a Profile (topic profiles). */
  readonly value: unknown;
  /** The event time (or profile updatedAt); for an invalid event without one, the simulated time. */
  readonly timestamp: number;
}

export interface ClickstreamBatch {
  /** Raw events in emission order: valid Events and, at `invalidRate`, invalid objects. */
  readonly raw: unknown[];
  /**
   * Profile records that became due up to the last raw event of the batch, in emission order. A
   * user's profile is emitted before any of the user's events (this batch or an earlier one), so
   * write a batch's profiles before its raw events.
   */
  readonly profiles: Profile[];
}

/** Cumulative counters of the output handed out so far (and of the simulated population). */
export interface ClickstreamStats {
  /** Raw events emitted (valid + invalid). */
  raw: number;
  valid: number;
  invalid: number;
  /** Valid events emitted late (after events with later timestamps). */
  late: number;
  /** Valid events by type. */
  byType: Record<EventType, number>;
  /** Sessions started. */
  sessions: number;
  /** Current number of users and items. */
  users: number;
  items: number;
  /** Users and items created after the start. */
  newUsers: number;
  newItems: number;
  /** Profile records emitted. */
  profiles: number;
}

export interface UserInfo {
  readonly userId: string;
  /** Preferred categories, most preferred first. */
  readonly preferredCategories: readonly string[];
  /** Sign-up time (startTime for the initial users). */
  readonly createdAt: number;
  readonly isNew: boolean;
  /** Mean sessions per day of this user. */
  readonly sessionsPerDay: number;
}

export interface ItemInfo {
  readonly itemId: string;
  readonly category: string;
  readonly price: number;
  readonly createdAt: number;
  readonly isNew: boolean;
}

// ---------------------------------------------------------------------------------------------
// PRNG: sfc32 seeded through splitmix32; independent streams per purpose.

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const sm = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2f) ^ Math.imul(stream + 1, 0x165667b1));
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Exponential with the given rate (per unit). */
  exp(rate: number): number {
    return -Math.log(1 - this.next()) / rate;
  }

  /** An index drawn by cumulative weights. */
  weighted(cum: readonly number[], n = cum.length): number {
    const u = this.next() * cum[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

const STREAM_MAIN = 0;
const STREAM_LATE = 1;
const STREAM_INVALID = 2;

// ---------------------------------------------------------------------------------------------
// Reference data.

const FIRST_NAMES = ['Ada', 'Ben', 'Chloe', 'David', 'Emma', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kenji', 'Lea', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tara', 'Uma', 'Victor', 'Wen', 'Yara', 'Zoe'];
const LAST_NAMES = ['Almeida', 'Brown', 'Chen', 'Dubois', 'Eriksson', 'Fischer', 'Garcia', 'Hansen', 'Ito', 'Jansen', 'Kowalski', 'Lopez', 'Muller', 'Nguyen', 'Okafor', 'Petrov', 'Rossi', 'Silva', 'Smith', 'Tanaka', 'Weber', 'Yilmaz'];
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'NL', 'ES', 'IT', 'PL', 'SE', 'CA', 'AU', 'BR', 'IN', 'JP'];
const COUNTRY_CUM = cumulative(COUNTRIES.map((_, i) => 1 / (i + 1)));
const MODIFIERS = ['best', 'cheap', 'new', 'red', 'black', 'gift', 'sale', 'premium', 'small', 'organic', 'wireless', 'kids'];
const BASE_PRICES: Record<string, number> = {
  electronics: 150,
  books: 15,
  fashion: 40,
  home: 35,
  beauty: 20,
  sports: 45,
  toys: 25,
  grocery: 6,
  garden: 30,
  automotive: 50,
  health: 18,
  music: 20,
};

/** Where web sessions come from (first event): referrer, utm source, campaign prefix; by weight. */
const WEB_ORIGINS: readonly { weight: number; referrer: string | null; utmSource: string | null; campaign: string | null }[] = [
  { weight: 30, referrer: 'https://www.google.com/', utmSource: null, campaign: null },
  { weight: 10, referrer: 'https://www.google.com/', utmSource: 'google', campaign: 'search_brand' },
  { weight: 25, referrer: null, utmSource: null, campaign: null },
  { weight: 8, referrer: 'https://www.facebook.com/', utmSource: 'facebook', campaign: 'social' },
  { weight: 5, referrer: 'https://www.instagram.com/', utmSource: 'instagram', campaign: 'influencer' },
  { weight: 10, referrer: 'https://mail.example.com/', utmSource: 'newsletter', campaign: 'weekly' },
  { weight: 5, referrer: 'https://www.bing.com/', utmSource: null, campaign: null },
  { weight: 7, referrer: 'https://deals.example.org/', utmSource: 'affiliate', campaign: 'deals' },
];
const WEB_ORIGIN_CUM = cumulative(WEB_ORIGINS.map((o) => o.weight));

function cumulative(weights: readonly number[]): number[] {
  const out: number[] = [];
  let sum = 0;
  for (const w of weights) out.push((sum += w));
  return out;
}

/** Relative session arrival rate at time t (UTC): mean 1 over a weekday, peak 17:00, low 05:00. */
function dayFactor(t: number): number {
  const hour = (t % DAY) / HOUR;
  const weekday = Math.floor(t / DAY + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  const weekend = weekday === 0 || weekday === 6 ? 1.2 : 1;
  return weekend * (1 + 0.85 * Math.cos((2 * Math.PI * (hour - 17)) / 24));
}
const MAX_DAY_FACTOR = 1.2 * 1.85;

// ---------------------------------------------------------------------------------------------
// Simulation state.

interface UserState {
  readonly index: number;
  readonly id: string;
  /** Preferred category indices and their cumulative weights. */
  readonly preferred: readonly number[];
  readonly preferredCum: readonly number[];
  /** Sessions per ms (before the day factor). */
  readonly rate: number;
  readonly appShare: number;
  readonly createdAt: number;
  readonly isNew: boolean;
  profile: Profile;
  purchases: number;
  profilePending: boolean;
  cart: number[];
  /** Carts and purchases drawn when no item was at hand, emitted at the next chance. */
  pending: EventType[];
  /** Events left in the current session (0: not in a session). */
  remaining: number;
  sessionSource: EventSource;
  sessionCategory: number;
  currentItem: number;
  searchCategory: number;
}

interface ItemState {
  readonly id: string;
  readonly category: number;
  readonly price: number;
  readonly createdAt: number;
  readonly isNew: boolean;
}

type Action =
  | { t: number; seq: number; kind: 'user'; user: UserState }
  | { t: number; seq: number; kind: 'deliver'; event: Event }
  | { t: number; seq: number; kind: 'profile'; user: UserState }
  | { t: number; seq: number; kind: 'newUser' | 'newItem' | 'crm' };

interface Output {
  readonly record: GeneratedRecord;
  readonly kind: 'valid' | 'late' | 'invalid' | 'profile';
}

type WithoutSeq<A> = A extends unknown ? Omit<A, 'seq'> : never;
type ActionInit = WithoutSeq<Action>;

/** A binary min-heap of actions by (t, seq). */
class ActionQueue {
  private readonly heap: Action[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(a: Action): void {
    const h = this.heap;
    h.push(a);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Action | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Action, b: Action): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** The event types that name an item: the funnel (views and clicks, carts, purchases). */
export const ITEM_EVENT_TYPES: readonly EventType[] = ['page_view', 'click', 'add_to_cart', 'purchase'];
const VIP_PURCHASES = 5;

function emptyByType(): Record<EventType, number> {
  return { page_view: 0, click: 0, add_to_cart: 0, purchase: 0, search: 0, profile_update: 0 };
}

function positive(name: string, value: number, allowZero = true): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${value}`);
  }
  return value;
}

function share(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${value}`);
  return value;
}

/**
 * The generator. Construct it with options, then pull output with `nextEvents(count)` (a batch of
 * raw events and the profiles due with them) or `nextRecord()` (one record of either topic, in
 * emission order); both read the same stream and can be mixed.
 */
export class ClickstreamGenerator {
  private readonly rng: Rng;
  private readonly lateRng: Rng;
  private readonly invalidRng: Rng;
  private readonly categories: readonly string[];
  private readonly categoryCum: number[];
  private readonly categoryItems: number[][];
  private readonly categoryPrice: number[];
  private readonly users: UserState[] = [];
  private readonly items: ItemState[] = [];
  private readonly zipfCum: number[] = [];
  private readonly queue = new ActionQueue();
  /** Records produced by the simulation and not yet handed out (counted when handed out). */
  private readonly out: Output[] = [];
  private outHead = 0;
  private seq = 0;
  private eventCounter = 0;
  private invalidCounter = 0;
  private clock: number;
  private readonly eventPrefix: string;

  private readonly startTime: number;
  private readonly newUserRate: number;
  private readonly newItemRate: number;
  private readonly lateRate: number;
  private readonly maxLatenessMs: number;
  private readonly invalidRate: number;
  private readonly searchRate: number;
  private readonly cartShare: number;
  private readonly purchaseShare: number;
  private readonly sessionsPerDay: number;
  private readonly profileUpdateRate: number;
  private readonly zipfExponent: number;
  private readonly preferenceStrength: number;

  private readonly counters: ClickstreamStats = {
    raw: 0,
    valid: 0,
    invalid: 0,
    late: 0,
    byType: emptyByType(),
    sessions: 0,
    users: 0,
    items: 0,
    newUsers: 0,
    newItems: 0,
    profiles: 0,
  };

  constructor(options: ClickstreamOptions) {
    const { seed } = options;
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    const userCount = options.users ?? 1000;
    const itemCount = options.items ?? 500;
    if (!Number.isSafeInteger(userCount) || userCount < 1) throw new RangeError(`users must be a positive integer, got ${userCount}`);
    this.categories = [...(options.categories ?? DEFAULT_CATEGORIES)];
    if (this.categories.length === 0) throw new RangeError('categories must not be empty');
    if (!Number.isSafeInteger(itemCount) || itemCount < this.categories.length) {
      throw new RangeError(`items must be an integer >= the number of categories (${this.categories.length}), got ${itemCount}`);
    }
    this.startTime = options.startTime ?? Date.UTC(2024, 0, 1);
    if (!Number.isSafeInteger(this.startTime) || this.startTime < 0) throw new RangeError(`startTime must be ms since the epoch, got ${this.startTime}`);
    this.newUserRate = positive('newUserRate', options.newUserRate ?? 1);
    this.newItemRate = positive('newItemRate', options.newItemRate ?? 0.25);
    this.lateRate = share('lateRate', options.lateRate ?? 0.01);
    this.maxLatenessMs = Math.max(5 * SECOND, positive('maxLatenessMs', options.maxLatenessMs ?? 3 * MINUTE));
    this.invalidRate = share('invalidRate', options.invalidRate ?? 0);
    this.searchRate = share('searchRate', options.searchRate ?? 0.03);
    const funnel = options.funnel ?? DEFAULT_FUNNEL;
    this.cartShare = share('funnel.addToCart', funnel.addToCart);
    this.purchaseShare = share('funnel.purchase', funnel.purchase);
    share('funnel shares together', this.cartShare + this.purchaseShare);
    this.sessionsPerDay = positive('sessionsPerDay', options.sessionsPerDay ?? 1, false);
    this.profileUpdateRate = positive('profileUpdateRate', options.profileUpdateRate ?? 0.02);
    this.zipfExponent = positive('zipfExponent', options.zipfExponent ?? 1);
    this.preferenceStrength = share('preferenceStrength', options.preferenceStrength ?? 0.85);

    this.rng = new Rng(seed, STREAM_MAIN);
    this.lateRng = new Rng(seed, STREAM_LATE);
    this.invalidRng = new Rng(seed, STREAM_INVALID);
    this.eventPrefix = `e${(seed < 0 ? 'n' : '') + Math.abs(seed).toString(36)}-`;
    this.clock = this.startTime;
    const rng = this.rng;

    // Category popularity: Zipf(0.6) over a seeded permutation of the categories.
    const order = this.categories.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const weights = new Array<number>(order.length);
    order.forEach((c, rank) => (weights[c] = 1 / (rank + 1) ** 0.6));
    this.categoryCum = cumulative(weights);
    this.categoryItems = this.categories.map(() => []);
    this.categoryPrice = this.categories.map((name) => BASE_PRICES[name] ?? Math.round(rng.logNormal(30, 0.8) * 100) / 100);

    // Initial items: at least one per category, the rest by category popularity; ranks shuffled.
    for (let i = 0; i < itemCount; i++) this.addItem(i < this.categories.length ? i : rng.weighted(this.categoryCum), this.startTime, false, false);
    for (const list of this.categoryItems) {
      for (let i = list.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [list[i], list[j]] = [list[j]!, list[i]!];
      }
    }

    // Initial users, with profiles updated some time in the past year; each user's first session.
    const initialProfiles: Profile[] = [];
    for (let i = 0; i < userCount; i++) {
      const tierDraw = rng.next();
      const tier: Profile['tier'] = tierDraw < 0.2 ? 'new' : tierDraw < 0.9 ? 'regular' : 'vip';
      const updatedAt = this.startTime - MINUTE - rng.int(365 * DAY);
      const user = this.addUser(this.startTime, tier, updatedAt, false);
      initialProfiles.push(user.profile);
      this.schedule({ t: this.nextSessionStart(user, this.startTime), kind: 'user', user });
    }
    initialProfiles.sort((a, b) => a.updatedAt - b.updatedAt);
    for (const p of initialProfiles) this.emitProfile(p);

    if (this.newUserRate > 0) this.schedule({ t: this.nextArrival(this.startTime, this.newUserRate / HOUR, true), kind: 'newUser' });
    if (this.newItemRate > 0) this.schedule({ t: this.startTime + Math.round(rng.exp(this.newItemRate / HOUR)), kind: 'newItem' });
    if (this.profileUpdateRate > 0) this.schedule({ t: this.nextCrmUpdate(this.startTime), kind: 'crm' });
  }

  /** Cumulative counters (a copy). */
  get stats(): ClickstreamStats {
    return { ...this.counters, byType: { ...this.counters.byType } };
  }

  /** The simulated time: the time of the last processed action (startTime at first). */
  get now(): number {
    return this.clock;
  }

  /** The next `count` raw events, with the profile records due up to the last of them. */
  nextEvents(count: number): ClickstreamBatch {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
    const raw: unknown[] = [];
    const profiles: Profile[] = [];
    while (raw.length < count) {
      const record = this.nextRecord();
      if (record.topic === 'raw-events') raw.push(record.value);
      else profiles.push(record.value as Profile);
    }
    return { raw, profiles };
  }

  /** The next record of either topic, in emission order. The stream never ends. */
  nextRecord(): GeneratedRecord {
    while (this.outHead >= this.out.length) {
      this.out.length = 0;
      this.outHead = 0;
      this.step();
    }
    const { record, kind } = this.out[this.outHead]!;
    this.out[this.outHead++] = undefined as never;
    const c = this.counters;
    if (kind === 'profile') {
      c.profiles++;
    } else {
      c.raw++;
      if (kind === 'invalid') {
        c.invalid++;
      } else {
        c.valid++;
        c.byType[(record.value as Event).type]++;
        if (kind === 'late') c.late++;
      }
    }
    return record;
  }

  *[Symbol.iterator](): Generator<GeneratedRecord, never> {
    for (;;) yield this.nextRecord();
  }

  /** The hidden attributes of a user (for tests and demos), or undefined if there is no such user. */
  describeUser(userId: string): UserInfo | undefined {
    const m = /^u(\d+)$/.exec(userId);
    const u = m === null ? undefined : this.users[Number(m[1])];
    if (u === undefined) return undefined;
    return {
      userId: u.id,
      preferredCategories: u.preferred.map((c) => this.categories[c]!),
      createdAt: u.createdAt,
      isNew: u.isNew,
      sessionsPerDay: u.rate * DAY,
    };
  }

  /** The attributes of an item, or undefined if there is no such item. */
  describeItem(itemId: string): ItemInfo | undefined {
    const m = /^i(\d+)$/.exec(itemId);
    const item = m === null ? undefined : this.items[Number(m[1])];
    if (item === undefined) return undefined;
    return { itemId: item.id, category: this.categories[item.category]!, price: item.price, createdAt: item.createdAt, isNew: item.isNew };
  }

  // -------------------------------------------------------------------------------------------

  private schedule(action: ActionInit): void {
    this.queue.push({ ...action, seq: this.seq++ } as Action);
  }

  private step(): void {
    const action = this.queue.pop();
    if (action === undefined) throw new Error('the clickstream generator ran out of actions'); // cannot happen: users always reschedule
    this.clock = action.t;
    switch (action.kind) {
      case 'user':
        this.userStep(action.user, action.t);
        break;
      case 'deliver':
        this.emitRaw(action.event, action.event.userId, action.event.timestamp, 'late');
        break;
      case 'profile':
        this.tierUpdate(action.user, action.t);
        break;
      case 'newUser': {
        const user = this.addUser(action.t, 'new', action.t, true);
        this.emitProfile(user.profile);
        this.schedule({ t: action.t, kind: 'user', user }); // cold start: the first session starts now
        this.schedule({ t: this.nextArrival(action.t, this.newUserRate / HOUR, true), kind: 'newUser' });
        break;
      }
      case 'newItem': {
        const rng = this.rng;
        this.addItem(rng.weighted(this.categoryCum), action.t, true, true);
        this.schedule({ t: action.t + Math.max(1, Math.round(rng.exp(this.newItemRate / HOUR))), kind: 'newItem' });
        break;
      }
      case 'crm':
        this.randomProfileChange(action.t);
        this.schedule({ t: this.nextCrmUpdate(action.t), kind: 'crm' });
        break;
    }
  }

  private addUser(t: number, tier: Profile['tier'], updatedAt: number, isNew: boolean): UserState {
    const rng = this.rng;
    const index = this.users.length;
    const id = `u${index}`;
    const k = rng.next() < 0.4 ? 1 : rng.next() < 0.67 ? 2 : 3;
    const preferred: number[] = [];
    while (preferred.length < Math.min(k, this.categories.length)) {
      const c = rng.weighted(this.categoryCum);
      if (!preferred.includes(c)) preferred.push(c);
    }
    const user: UserState = {
      index,
      id,
      preferred,
      preferredCum: cumulative(preferred.map((_, i) => [0.6, 0.3, 0.1][i]!)),
      // Activity: log-normal with mean sessionsPerDay (sigma 1: median is 0.61 of the mean).
      rate: (this.sessionsPerDay * Math.exp(rng.normal() - 0.5)) / DAY,
      appShare: rng.chance(0.3) ? 0.8 : 0.1,
      createdAt: t,
      isNew,
      profile: {
        userId: id,
        name: `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`,
        country: COUNTRIES[rng.weighted(COUNTRY_CUM)]!,
        tier,
        marketingOptIn: rng.chance(0.6),
        updatedAt,
      },
      purchases: 0,
      profilePending: false,
      cart: [],
      pending: [],
      remaining: 0,
      sessionSource: 'web',
      sessionCategory: preferred[0]!,
      currentItem: -1,
      searchCategory: -1,
    };
    // The channel the user signed up on follows how they use the service (no extra random draw,
    // so the seeded stream is otherwise unchanged).
    user.profile = { ...user.profile, signupChannel: user.appShare > 0.5 ? 'app' : 'web' };
    this.users.push(user);
    this.counters.users++;
    if (isNew) this.counters.newUsers++;
    return user;
  }

  private addItem(category: number, t: number, isNew: boolean, insertAtRandomRank: boolean): void {
    const rng = this.rng;
    const index = this.items.length;
    const price = Math.max(0.99, Math.round(this.categoryPrice[category]! * Math.exp(0.6 * rng.normal())) - 0.01);
    this.items.push({ id: `i${index}`, category, price, createdAt: t, isNew });
    const list = this.categoryItems[category]!;
    // A new item lands at a random popularity rank, so that cold-start items do get traffic.
    if (insertAtRandomRank) list.splice(rng.int(list.length + 1), 0, index);
    else list.push(index);
    while (this.zipfCum.length < list.length) {
      const k = this.zipfCum.length;
      this.zipfCum.push((k === 0 ? 0 : this.zipfCum[k - 1]!) + 1 / (k + 1) ** this.zipfExponent);
    }
    this.counters.items++;
    if (isNew) this.counters.newItems++;
  }

  /** The next arrival of a Poisson process with rate `rate` per ms, damped by the day factor. */
  private nextArrival(from: number, rate: number, damped: boolean): number {
    const rng = this.rng;
    let t = from;
    if (!damped) return t + Math.max(1, Math.round(rng.exp(rate)));
    for (;;) {
      t += rng.exp(rate * MAX_DAY_FACTOR);
      if (rng.next() * MAX_DAY_FACTOR < dayFactor(t)) return Math.max(from + 1, Math.round(t));
    }
  }

  private nextSessionStart(user: UserState, from: number): number {
    return this.nextArrival(from, user.rate, true);
  }

  private nextCrmUpdate(from: number): number {
    return this.nextArrival(from, (this.profileUpdateRate * this.users.length) / DAY, false);
  }

  private pickCategory(user: UserState): number {
    const rng = this.rng;
    return rng.chance(this.preferenceStrength) ? user.preferred[rng.weighted(user.preferredCum)]! : rng.weighted(this.categoryCum);
  }

  private pickItem(category: number): number {
    const list = this.categoryItems[category]!;
    return list[this.rng.weighted(this.zipfCum, list.length)]!;
  }

  private startSession(user: UserState): { referrer: string | null; utmSource: string | null; utmCampaign: string | null } {
    const rng = this.rng;
    this.counters.sessions++;
    // Log-normal length: median 6, p90 about 39 (OTTO); at most 200 events.
    user.remaining = Math.min(200, Math.max(1, Math.round(rng.logNormal(6, 1.46))));
    user.sessionSource = rng.chance(user.appShare) ? 'app' : 'web';
    user.sessionCategory = this.pickCategory(user);
    user.currentItem = -1;
    user.searchCategory = -1;
    // Campaigns change weekly: `<campaign>_<year>w<week of the year>`.
    const year = new Date(this.clock).getUTCFullYear();
    const week = `${year}w${String(Math.floor((this.clock - Date.UTC(year, 0, 1)) / (7 * DAY)) + 1).padStart(2, '0')}`;
    if (user.sessionSource === 'app') {
      // App sessions have no referrer; some are opened from a push notification.
      return rng.chance(0.15) ? { referrer: null, utmSource: 'push', utmCampaign: `push_${week}` } : { referrer: null, utmSource: null, utmCampaign: null };
    }
    const origin = WEB_ORIGINS[rng.weighted(WEB_ORIGIN_CUM)]!;
    return { referrer: origin.referrer, utmSource: origin.utmSource, utmCampaign: origin.campaign === null ? null : `${origin.campaign}_${week}` };
  }

  private userStep(user: UserState, t: number): void {
    const rng = this.rng;
    const first = user.remaining === 0;
    const origin = first ? this.startSession(user) : null;
    const event = this.makeEvent(user, t, first, origin);
    user.remaining--;
    if (user.remaining > 0) {
      // Log-normal gap, median 40 s, at least 1 s, never more than MAX_IN_SESSION_GAP_MS.
      let gap = rng.logNormal(40 * SECOND, 1.2);
      while (gap > MAX_IN_SESSION_GAP_MS) gap = rng.logNormal(40 * SECOND, 1.2);
      this.schedule({ t: t + Math.max(SECOND, Math.round(gap)), kind: 'user', user });
    } else {
      user.currentItem = -1;
      this.schedule({ t: this.nextSessionStart(user, t + SESSION_GAP_MS + SECOND), kind: 'user', user });
    }

    // Delivery: on time, or late; then maybe an extra invalid event.
    if (this.lateRate > 0 && this.lateRng.chance(this.lateRate)) {
      const delay = 5 * SECOND + this.lateRng.int(this.maxLatenessMs - 5 * SECOND + 1);
      this.schedule({ t: t + delay, kind: 'deliver', event });
    } else {
      this.emitRaw(event, event.userId, event.timestamp, 'valid');
    }
    if (this.invalidRate > 0 && this.invalidRng.chance(this.invalidRate)) {
      const bad = this.corrupt(event);
      const key = (bad as { userId?: unknown } | null)?.userId;
      this.emitRaw(bad, typeof key === 'string' ? key : null, t, 'invalid');
    }
  }

  private drawType(user: UserState, first: boolean): EventType {
    const rng = this.rng;
    if (user.pending.length > 0 && !first && user.currentItem >= 0) return user.pending.shift()!;
    if (rng.chance(this.searchRate)) return 'search';
    const r = rng.next();
    const type: EventType = r < this.purchaseShare ? 'purchase' : r < this.purchaseShare + this.cartShare ? 'add_to_cart' : rng.chance(0.25) ? 'click' : 'page_view';
    if ((type === 'purchase' || type === 'add_to_cart') && (first || user.currentItem < 0)) {
      // Nothing at hand to add or buy yet: view something first; the cart or purchase follows later.
      if (user.pending.length < 4) user.pending.push(type);
      return 'page_view';
    }
    return type;
  }

  private makeEvent(
    user: UserState,
    t: number,
    first: boolean,
    origin: { referrer: string | null; utmSource: string | null; utmCampaign: string | null } | null,
  ): Event {
    const rng = this.rng;
    const type = this.drawType(user, first);
    let itemIndex = -1;
    let quantity: number | null = null;
    let page: string;
    let query: string | null = null;
    let source = user.sessionSource;
    if (type === 'page_view' || type === 'click') {
      let category: number;
      if (user.searchCategory >= 0) {
        category = user.sessionCategory = user.searchCategory;
        user.searchCategory = -1;
      } else if (!first && rng.chance(0.3)) {
        category = user.sessionCategory = this.pickCategory(user);
      } else {
        category = user.sessionCategory;
      }
      itemIndex = user.currentItem = this.pickItem(category);
      page = `/item/${this.items[itemIndex]!.id}`;
    } else if (type === 'add_to_cart') {
      itemIndex = user.currentItem;
      quantity = this.quantity();
      if (user.cart.length >= 20) user.cart.shift();
      user.cart.push(itemIndex);
      page = `/item/${this.items[itemIndex]!.id}`;
    } else if (type === 'purchase') {
      itemIndex = user.cart.length > 0 ? user.cart.shift()! : user.currentItem;
      quantity = this.quantity();
      page = '/checkout';
      source = 'txn';
      user.purchases++;
      const due = user.profile.tier === 'new' || (user.profile.tier === 'regular' && user.purchases >= VIP_PURCHASES);
      if (due && !user.profilePending) {
        // The CRM learns of the purchase a few minutes later and upgrades the tier.
        user.profilePending = true;
        this.schedule({ t: t + MINUTE + rng.int(9 * MINUTE), kind: 'profile', user });
      }
    } else {
      const category = this.pickCategory(user);
      user.searchCategory = category;
      query = `${rng.pick(MODIFIERS)} ${this.categories[category]}`;
      page = `/search?q=${encodeURIComponent(query)}`;
    }
    const item = itemIndex >= 0 ? this.items[itemIndex]! : null;
    return {
      eventId: `${this.eventPrefix}${(this.eventCounter++).toString(36)}`,
      userId: user.id,
      type,
      timestamp: t,
      source,
      itemId: item?.id ?? null,
      category: item === null ? null : this.categories[item.category]!,
      price: item?.price ?? null,
      quantity,
      page,
      referrer: origin?.referrer ?? null,
      utmSource: origin?.utmSource ?? null,
      utmCampaign: origin?.utmCampaign ?? null,
      query,
    };
  }

  private quantity(): number {
    const r = this.rng.next();
    return r < 0.8 ? 1 : r < 0.95 ? 2 : 3;
  }

  /** An invalid raw event derived from a valid one: each variant fails validateEvent. */
  private corrupt(event: Event): unknown {
    const rng = this.invalidRng;
    const id = `bad-${(this.invalidCounter++).toString(36)}`;
    const base: Record<string, unknown> = { ...event, eventId: id };
    switch (rng.int(9)) {
      case 0: {
        // A view without its item.
        const { itemId: _itemId, ...rest } = base;
        return { ...rest, type: 'page_view' };
      }
      case 1:
        return { ...base, type: rng.pick(['pageview', 'view', 'PAGE_VIEW', 'checkout']) };
      case 2:
        return { ...base, timestamp: new Date(event.timestamp).toISOString() };
      case 3: {
        const { userId: _userId, ...rest } = base;
        return rest;
      }
      case 4:
        // A line from a legacy tracker: not a JSON object.
        return `${event.type} ${event.userId} ${event.itemId ?? '-'} ${event.timestamp}`;
      case 5:
        return { ...base, type: 'purchase', itemId: event.itemId ?? 'i0', price: -(event.price ?? 1), quantity: 1 };
      case 6:
        return { ...base, type: 'add_to_cart', itemId: event.itemId ?? 'i0', price: String(event.price ?? '9.99') };
      case 7:
        return { ...base, type: 'search', query: null, itemId: null };
      default:
        return { ...base, source: rng.pick(['ios', 'android', 'pos']) };
    }
  }

  private tierUpdate(user: UserState, t: number): void {
    user.profilePending = false;
    const tier = user.profile.tier;
    const next: Profile['tier'] = user.purchases >= VIP_PURCHASES && tier !== 'vip' ? 'vip' : tier === 'new' && user.purchases >= 1 ? 'regular' : tier;
    if (next !== tier) {
      user.profile = { ...user.profile, tier: next, updatedAt: t };
      this.emitProfile(user.profile);
    }
  }

  private randomProfileChange(t: number): void {
    const rng = this.rng;
    const user = this.users[rng.int(this.users.length)]!;
    const r = rng.next();
    const p = user.profile;
    user.profile =
      r < 0.5
        ? { ...p, marketingOptIn: !p.marketingOptIn, updatedAt: t }
        : r < 0.8
          ? { ...p, country: COUNTRIES[rng.weighted(COUNTRY_CUM)]!, updatedAt: t }
          : { ...p, name: `${p.name.split(' ')[0]} ${rng.pick(LAST_NAMES)}`, updatedAt: t };
    this.emitProfile(user.profile);
  }

  private emitRaw(value: unknown, key: string | null, timestamp: number, kind: Output['kind']): void {
    this.out.push({ record: { topic: 'raw-events', key, value, timestamp }, kind });
  }

  private emitProfile(profile: Profile): void {
    this.out.push({ record: { topic: 'profiles', key: profile.userId, value: profile, timestamp: profile.updatedAt }, kind: 'profile' });
  }
}
