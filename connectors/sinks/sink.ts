/** The sink SPI lives in the engine (engine/sink.ts), where KStream.toSink can name it; the sinks import it from here. */
export type { Sink, SinkBatch, SinkContext, SinkGuarantee, SinkPartitionBatch, SinkPositions, SinkRecord, PositionStore } from '../../engine/sink.ts';
