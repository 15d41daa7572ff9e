/**
 * Type tests for the DSL: checked by `npm run typecheck` (tsc), never executed.
 * Every `@ts-expect-error` must match a real error, or tsc fails: a wrong callback that
 * compiled would break the typecheck.
 */
import {
  JoinWindows,
  Serdes,
  SessionWindows,
  StreamsBuilder,
  TimeWindows,
  type KStream,
  type KTable,
  type Windowed,
} from '../../index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_T extends true>(): void {}

interface Click {
  userId: string;
  itemId: string;
  price: number;
}
interface Profile {
  name: string;
  age: number;
}

const builder = new StreamsBuilder();
const clicks = builder.stream('clicks', { key: Serdes.string(), value: Serdes.json<Click>() });
expectType<Equal<typeof clicks, KStream<string, Click>>>();

// Types flow through the chain.
const items = clicks.mapValues((v) => v.itemId);
expectType<Equal<typeof items, KStream<string, string>>>();

const mapped = clicks.map((k, v) => [v.itemId, { user: k, price: v.price }] as const);
expectType<Equal<typeof mapped, KStream<string, { readonly user: string; readonly price: number }>>>();

const rekeyed = clicks.selectKey((_, v) => v.price);
expectType<Equal<typeof rekeyed, KStream<number, Click>>>();

const flat = clicks.flatMapValues((v) => [v.itemId, v.userId]);
expectType<Equal<typeof flat, KStream<string, string>>>();

const pairs = clicks.flatMap((k, v) => [[k, v.price] as [string, number]]);
expectType<Equal<typeof pairs, KStream<string, number>>>();

// A type guard narrows.
const maybe = clicks.mapValues((v) => (v.price > 0 ? v : null));
const some = maybe.filter((_, v): v is Click => v !== null);
expectType<Equal<typeof some, KStream<string, Click>>>();

// Aggregations.
const counts = clicks.groupByKey().count();
expectType<Equal<typeof counts, KTable<string, number>>>();

const spend = clicks.groupBy((_, v) => v.itemId, { key: Serdes.string() }).aggregate(
  () => 0,
  (_k, v, total) => total + v.price,
);
expectType<Equal<typeof spend, KTable<string, number>>>();

const windowed = clicks.groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(60_000)).count();
expectType<Equal<typeof windowed, KTable<Windowed<string>, number>>>();

const sessions = clicks
  .groupByKey()
  .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(1_000))
  .aggregate(
    () => [] as string[],
    (_k, v, agg) => [...agg, v.itemId],
    (_k, a, b) => [...a, ...b],
  );
expectType<Equal<typeof sessions, KTable<Windowed<string>, string[]>>>();

// Joins.
const profiles = builder.table('profiles', { key: Serdes.string(), value: Serdes.json<Profile>() });
const enriched = clicks.leftJoin(profiles, (click, profile) => ({ ...click, age: profile?.age ?? null }));
expectType<Equal<typeof enriched, KStream<string, { userId: string; itemId: string; price: number; age: number | null }>>>();

const pairsJoined = clicks.join(
  items,
  (click, item) => `${click.userId}:${item}`,
  JoinWindows.ofTimeDifferenceWithNoGrace(1_000),
);
expectType<Equal<typeof pairsJoined, KStream<string, string>>>();

const tableJoin = profiles.outerJoin(counts, (p, n) => `${p?.name}:${n ?? 0}`);
expectType<Equal<typeof tableJoin, KTable<string, string>>>();

// Table-table joins on the same key still infer through the overloads; foreign-key joins take an extractor.
const sameKey = profiles.join(counts, (p, n) => `${p.name}:${n}`);
expectType<Equal<typeof sameKey, KTable<string, string>>>();
const ages = builder.table('ages', { key: Serdes.number(), value: Serdes.string() });
const byAge = profiles.join(ages, (p) => p.age, (p, label) => ({ name: p.name, label }));
expectType<Equal<typeof byAge, KTable<string, { name: string; label: string }>>>();
const byAgeLeft = profiles.leftJoin(ages, (p) => p.age, (p, label) => label ?? p.name);
expectType<Equal<typeof byAgeLeft, KTable<string, string>>>();
// @ts-expect-error the extractor must return the other table's key type (number), not a string
profiles.join(ages, (p) => p.name, (p, label) => label);

const stream = counts.toStream();
expectType<Equal<typeof stream, KStream<string, number | null>>>();

// Wrong callbacks do not compile.
// @ts-expect-error Click has no field "nope"
clicks.filter((_, v) => v.nope > 1);
// @ts-expect-error mapValues takes (value, key): the value is a Click, not a string
clicks.mapValues((v: string) => v.length);
// @ts-expect-error map must return a [key, value] pair
clicks.map((k) => k);
// @ts-expect-error an aggregator must return the aggregate type (number)
clicks.groupByKey().aggregate(() => 0, (_k, v) => v.itemId);
// @ts-expect-error a session aggregation needs a merger
clicks.groupByKey().windowedBy(SessionWindows.ofInactivityGapWithNoGrace(1)).aggregate(() => 0, (_k, _v, n) => n + 1);
// @ts-expect-error the value serde must fit the value type
counts.toStream().to('out', { value: Serdes.string() });
// @ts-expect-error joining tables of different key types
profiles.join(windowed, (p, n) => p.name + n);
