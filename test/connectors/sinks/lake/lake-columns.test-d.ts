/**
 * Type tests of the lake sink's column mapping: checked by `npm run typecheck`, never executed.
 * `row` is typed by `columns`: a value of the wrong type for its column, or a column not
 * declared, does not compile.
 */
import { ParquetLakeSink, type LakeRow } from '../../../../connectors/sinks/lake/index.ts';

interface Event {
  userId: string;
  price: number | null;
  at: number;
}

const columns = { user_id: 'STRING', price: 'DOUBLE', at: 'TIMESTAMP', n: 'INT64', doc: 'JSON' } as const;

export const ok = new ParquetLakeSink<string, Event, typeof columns>({
  name: 'typed',
  dir: 'lake',
  columns,
  row: (r) => r.value && { user_id: r.value.userId, price: r.value.price, at: new Date(r.value.at), n: 1n, doc: { any: ['json'] } },
});

export const defaults = new ParquetLakeSink<string, Event>({ name: 'plain', dir: 'lake' });

export const wrongType = new ParquetLakeSink<string, Event, typeof columns>({
  name: 'typed',
  dir: 'lake',
  columns,
  // @ts-expect-error price is DOUBLE: a string does not fit
  row: (r) => ({ user_id: r.key ?? '', price: 'cheap' }),
});

export const unknownColumn = new ParquetLakeSink<string, Event, typeof columns>({
  name: 'typed',
  dir: 'lake',
  columns,
  // @ts-expect-error no column named user
  row: (r) => ({ user: r.key }),
});

export const partial: LakeRow<typeof columns> = { user_id: 'u1' };
