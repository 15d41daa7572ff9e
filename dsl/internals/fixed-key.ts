/**
 * Runs a FixedKeyProcessor as a Processor: each input record is handed over as a FixedKeyRecord,
 * and forward() takes nothing else, so every record forwarded carries the key of a record the
 * processor received. That is what lets processValues() keep the stream's partitioning (Kafka
 * Streams enforces it the same way: FixedKeyRecord has no withKey and no public constructor).
 */
import { StreamsError, TopologyError, type ProcessorStore, type Processor } from '../../engine/index.ts';
import { FixedKeyRecord, type FixedKeyProcessor, type FixedKeyProcessorContext } from '../fixed-key-processor.ts';
import { internal } from './symbols.ts';
import type { Ctx, Rec } from './processors.ts';

export class FixedKeyProcessorAdapter implements Processor<unknown, unknown, unknown, unknown> {
  readonly #inner: FixedKeyProcessor<unknown, unknown, unknown>;

  constructor(inner: FixedKeyProcessor<unknown, unknown, unknown>) {
    if (inner === null || typeof inner !== 'object' || typeof inner.process !== 'function') {
      throw new TopologyError('INVALID_TOPOLOGY', 'the fixed-key processor supplier must return an object with process()');
    }
    this.#inner = inner;
  }

  init(ctx: Ctx): void {
    const forward = (record: FixedKeyRecord<unknown, unknown>, childName?: string): void => {
      if (!(record instanceof FixedKeyRecord)) {
        throw new StreamsError(
          'INVALID_ARGUMENT',
          `processValues() processor "${ctx.nodeName}" forwarded a record that is not a FixedKeyRecord: it may not set the key. ` +
            'Forward record.withValue(value) of a record it received, or use process() to change keys',
        );
      }
      const { key, value, timestamp, headers } = record;
      ctx.forward(headers === undefined ? { key, value, timestamp } : { key, value, timestamp, headers }, childName);
    };
    const fixed: FixedKeyProcessorContext<unknown, unknown> = {
      applicationId: ctx.applicationId,
      taskId: ctx.taskId,
      nodeName: ctx.nodeName,
      forward,
      getStateStore: <S extends ProcessorStore>(name: string) => ctx.getStateStore<S>(name),
      schedule: (intervalMs, type, callback) => ctx.schedule(intervalMs, type, callback),
      currentStreamTimeMs: () => ctx.currentStreamTimeMs(),
      committedTime: (name) => ctx.committedTime(name),
      currentSystemTimeMs: () => ctx.currentSystemTimeMs(),
      recordMetadata: () => ctx.recordMetadata(),
      recordDropped: (reason) => ctx.recordDropped(reason),
    };
    this.#inner.init?.(fixed);
  }

  process(record: Rec): void {
    this.#inner.process(new FixedKeyRecord(internal, record.key, record.value, record.timestamp, record.headers));
  }

  close(): void {
    this.#inner.close?.();
  }
}
