/**
 * Adds a grouped-stream aggregation to the graph: one aggregate processor per input, all writing
 * one store, and the handle of the resulting table. A plain aggregation (KGroupedStream and its
 * windowed forms) has one input, whose processor is the table's node. A cogroup has one input per
 * grouped stream, each with its own aggregator, and a pass-through node that forwards every
 * input's updates as the table's: the shape of Kafka Streams' CogroupedStreamAggregateBuilder
 * (one KStreamAggregate / KStreamWindowAggregate / KStreamSessionWindowAggregate per input over
 * one store, then a KTablePassThrough).
 */
import { Serdes, type Processor, type Serde, type StoreSupplier } from '../../engine/index.ts';
import type { Materialized } from '../options.ts';
import { type SessionWindows, type SlidingWindows, type TimeWindows, defaultRetentionMs } from '../windows.ts';
import type { StreamHandle } from '../kstream.ts';
import type { TableHandle } from '../ktable.ts';
import type { BuilderState } from './builder-state.ts';
import { PassThroughProcessor, storeGetter } from './processors.ts';
import { StreamAggregateProcessor } from './aggregate.ts';
import {
  SessionWindowAggregateProcessor,
  SlidingWindowAggregateProcessor,
  TimeWindowAggregateProcessor,
  type WindowAggregation,
} from './windowed-aggregate.ts';

export type AggregationWindows = TimeWindows | SlidingWindows | SessionWindows;

/** One input of an aggregation. */
export interface AggregationInput {
  /** The grouped stream, already repartitioned if its key changed. */
  readonly input: StreamHandle<unknown, unknown>;
  /** The name of this input's aggregate processor. */
  readonly name: string;
  /** `merge` is needed for session windows only. */
  readonly agg: WindowAggregation;
}

export interface AggregationSpec {
  readonly inputs: readonly AggregationInput[];
  /** Undefined for a key-value aggregation. */
  readonly windows: AggregationWindows | undefined;
  readonly emitOnClose: boolean;
  /** The operator the store is named after (`<operator>-store`) unless materialized names it. */
  readonly operator: string;
  readonly materialized: Materialized<unknown, unknown>;
  /** The aggregate's serde when the operator knows it (count, reduce); else materialized's or the fallback. */
  readonly valueSerde: Serde<unknown> | undefined;
  /** Cogroup: the name of the node merging the inputs' updates; the table's node. */
  readonly merge?: string;
  /** Cogroup: the name the windowed processors share their observed stream time under. */
  readonly timeName?: string;
}

export function addAggregation(state: BuilderState, spec: AggregationSpec): TableHandle<unknown, unknown> {
  const { inputs, windows, emitOnClose } = spec;
  const m = spec.materialized;
  const storeName = m.storeName ?? `${spec.operator}-store`;
  const shape = storeShape(windows, emitOnClose);
  for (const { input, name, agg } of inputs) {
    state.processor(spec.operator, [input.node], name, () => processorFor(windows, storeName, agg, emitOnClose, spec.timeName));
  }
  const keySerde = inputs.map((i) => i.input.keySerde).find((s) => s !== undefined);
  const names = inputs.map((i) => i.name);
  // The record cache serves key-value and time-window aggregations that emit updates, with one
  // input (a cogroup's inputs share one store, sliding and session windows rewrite several rows).
  const cacheable = inputs.length === 1 && !emitOnClose && (windows === undefined || windows.kind === 'time');
  state.store(shape.kind, spec.operator, { ...m, storeName }, keySerde, spec.valueSerde, shape.window, names, { cacheable });
  if (spec.merge !== undefined) state.processor('COGROUPKSTREAM-MERGE', names, spec.merge, () => new PassThroughProcessor());
  const sources = [...new Set(inputs.flatMap((i) => i.input.sources))];
  // Every input updates the same rows: their partitions must line up, as for a join.
  if (inputs.length > 1) state.topology.addCopartitionGroup(sources);
  const innerKey = m.key ?? keySerde;
  return {
    state,
    node: spec.merge ?? names[0]!,
    keySerde: windows === undefined || innerKey === undefined ? innerKey : (Serdes.windowed(innerKey) as Serde<unknown>),
    valueSerde: m.value ?? spec.valueSerde,
    getter: storeGetter(storeName, shape.kind),
    storeName,
    sources,
    windowCloseMs: shape.windowCloseMs,
  };
}

interface StoreShape {
  readonly kind: StoreSupplier['kind'];
  readonly window: { retentionMs: number; windowSizeMs?: number } | undefined;
  /** Windowed results: how long after a window's end its result is final. */
  readonly windowCloseMs: number | undefined;
}

function storeShape(windows: AggregationWindows | undefined, emitOnClose: boolean): StoreShape {
  // Emit-on-close stores keep windows one ms longer (see windowed-aggregate.ts).
  const extra = emitOnClose ? 1 : 0;
  switch (windows?.kind) {
    case undefined:
      return { kind: 'key-value', window: undefined, windowCloseMs: undefined };
    case 'time':
      // A time window is final at end + grace.
      return {
        kind: 'window',
        window: { retentionMs: defaultRetentionMs(windows.sizeMs, windows.graceMs) + extra, windowSizeMs: windows.sizeMs },
        windowCloseMs: windows.graceMs,
      };
    case 'sliding':
      // Sliding windows keep 2d + grace: a new window may be seeded from one up to 2d older.
      // A sliding window is final one ms after end + grace (its end is inclusive).
      return {
        kind: 'window',
        window: { retentionMs: 2 * windows.timeDifferenceMs + windows.graceMs + extra, windowSizeMs: windows.timeDifferenceMs },
        windowCloseMs: windows.graceMs,
      };
    case 'session':
      // A session's final result is due once stream time passes end + gap + grace.
      return {
        kind: 'session',
        window: { retentionMs: windows.inactivityGapMs + windows.graceMs + extra },
        windowCloseMs: windows.graceMs + windows.inactivityGapMs,
      };
  }
}

function processorFor(
  windows: AggregationWindows | undefined,
  storeName: string,
  agg: WindowAggregation,
  emitOnClose: boolean,
  timeName: string | undefined,
): Processor<unknown, unknown, unknown, unknown> {
  switch (windows?.kind) {
    case undefined:
      return new StreamAggregateProcessor(storeName, agg);
    case 'time':
      return new TimeWindowAggregateProcessor(storeName, windows, agg, emitOnClose, timeName);
    case 'sliding':
      return new SlidingWindowAggregateProcessor(storeName, windows, agg, emitOnClose, timeName);
    case 'session':
      return new SessionWindowAggregateProcessor(storeName, windows, agg, emitOnClose, timeName);
  }
}
