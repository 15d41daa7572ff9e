import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamsBuilder, Serdes, StreamsError, TopologyError, type Consumed } from '../../index.ts';

const S = Serdes.string();

/** Serdes left out on purpose: a JavaScript caller (or a cast) can do this. */
function partial(c: Partial<Consumed<string, string>>): Consumed<string, string> {
  return c as Consumed<string, string>;
}

describe('topology errors name the operator', () => {
  test('stream() without a value serde is MISSING_SERDE naming the source', () => {
    const b = new StreamsBuilder();
    assert.throws(() => b.stream('in', partial({ key: S, name: 'my-source' })), (e: unknown) => {
      assert.ok(e instanceof TopologyError);
      assert.ok(e instanceof StreamsError);
      assert.equal(e.code, 'MISSING_SERDE');
      assert.equal(e.operator, 'my-source');
      return true;
    });
  });

  test('stream() without a key serde is MISSING_SERDE', () => {
    const b = new StreamsBuilder();
    assert.throws(() => b.stream('in', partial({ value: S, name: 'src' })), { code: 'MISSING_SERDE', operator: 'src' });
  });

  test('an unnamed source gets its generated name in the error', () => {
    const b = new StreamsBuilder();
    assert.throws(
      () => b.stream(['a', 'b'], partial({})),
      (e: unknown) => e instanceof TopologyError && e.code === 'MISSING_SERDE' && e.operator !== undefined && e.operator.startsWith('KSTREAM-SOURCE-'),
    );
  });

  test('stream() with no Consumed at all is MISSING_SERDE, not a TypeError', () => {
    const b = new StreamsBuilder();
    assert.throws(() => b.stream('in', undefined as unknown as Consumed<string, string>), { code: 'MISSING_SERDE' });
  });

  test('table() and globalTable() without serdes are MISSING_SERDE naming the source', () => {
    const b = new StreamsBuilder();
    assert.throws(() => b.table('t', partial({ key: S, name: 'table-src' })), { code: 'MISSING_SERDE', operator: 'table-src' });
    assert.throws(() => b.globalTable('g', partial({ value: S, name: 'global-src' })), { code: 'MISSING_SERDE', operator: 'global-src' });
  });

  test('a failed stream() leaves the builder usable: the topic can then be read with serdes', () => {
    const b = new StreamsBuilder();
    assert.throws(() => b.stream('in', partial({ key: S })), { code: 'MISSING_SERDE' });
    assert.doesNotThrow(() => b.stream('in', { key: S, value: S }).to('out'));
    assert.doesNotThrow(() => b.build());
  });
});
