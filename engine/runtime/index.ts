export { StreamsApp } from './streams-app.ts';
export type { StreamsAppOptions, StreamsState, StreamThreadExceptionResponse, TopologyModule } from './streams-app.ts';
export { partitionForKey } from './partitioner.ts';
export type { StoreQuery, ErrorPolicy } from './messages.ts';
export type { HttpOptions, HttpRoute } from './http-server.ts';
