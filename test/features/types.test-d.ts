/** Type tests of feature definitions: checked by `npm run typecheck`, never run. */
import { Serdes, StreamsBuilder } from '../../index.ts';
import { Agg, buildFeatures, defineFeatures, feature, readFeatures } from '../../features/index.ts';

interface Ev {
  user: string;
  price: number;
  item: string;
}

const def = defineFeatures({
  name: 'typed',
  entity: (e) => e.user,
  windows: { '1h': { hop: '5m' }, lifetime: 'lifetime' },
  features: {
    spend: feature(Agg.sum(), (e: Ev) => e.price),
    items: feature(Agg.topK(3), (e: Ev) => e.item),
    p: feature(Agg.approxPercentile([0.5, 0.99]), (e: Ev) => e.price),
  },
});

const values = readFeatures(def, undefined, 0);
const spend: number = values.spend['1h']!;
const top: string = values.items.lifetime![0]!.item;
const p99: number | undefined = values.p['1h']?.[1];
void [spend, top, p99];

// @ts-expect-error: sum reads numbers, not strings
feature(Agg.sum(), (e: Ev) => e.item);
// @ts-expect-error: top_k reads strings
feature(Agg.topK(3), (e: Ev) => e.price);
// @ts-expect-error: no such feature
void values.nothing;

const b = new StreamsBuilder();
buildFeatures(b.stream('events', { key: Serdes.string(), value: Serdes.json<Ev>() }), def);
// @ts-expect-error: the stream's values are not the definition's
buildFeatures(b.stream('other', { key: Serdes.string(), value: Serdes.json<{ x: number }>() }), def);
