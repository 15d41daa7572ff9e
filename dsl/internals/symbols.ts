/**
 * Keys the DSL classes use among themselves, as Kafka Streams keeps its internal constructors
 * package-private. Not exported from the package: a user cannot construct a KStream (or the other
 * handles) except through StreamsBuilder and the operators, nor reach a stream's graph handle.
 */
/** First argument of every DSL handle's constructor. */
export const internal: unique symbol = Symbol('tributary.internal');
/** A KStream's, KTable's or GlobalKTable's place in the graph being built (a KGroupedStream's: its stream's). */
export const handleOf: unique symbol = Symbol('tributary.handle');
/** KStream: builds the branch nodes of a split. */
export const addBranches: unique symbol = Symbol('tributary.addBranches');
/** KStream: its handle, repartitioned if its key changed. */
export const repartitionedIfNeeded: unique symbol = Symbol('tributary.repartitionedIfNeeded');
/** KGroupedStream: the grouped input, repartitioned if the key changed upstream. */
export const groupedInput: unique symbol = Symbol('tributary.groupedInput');
