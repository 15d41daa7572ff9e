export { StreamsBuilder } from './streams-builder.ts';
export { KStream, BranchedKStream, KGroupedStream } from './kstream.ts';
export { KTable, KGroupedTable, GlobalKTable } from './ktable.ts';
export { TimeWindowedKStream, SessionWindowedKStream } from './windowed-kstream.ts';
export { TimeWindows, SlidingWindows, SessionWindows, JoinWindows, EmitStrategy } from './windows.ts';
export { Suppressed, BufferConfig } from './suppressed.ts';
export { Materialized } from './options.ts';
export type { Named, Consumed, Produced, Grouped, Repartitioned, StatefulOptions, StreamJoined, Joined } from './options.ts';
