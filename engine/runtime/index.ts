export { StreamsApp } from './streams-app.ts';
export type { StreamsState } from './streams-app.ts';
export type { HttpOptions, QuerySnapshotOptions, StreamsAppOptions, StreamThreadExceptionResponse, TopologyModule } from './streams-app-options.ts';
export { partitionForKey } from './partitioner.ts';
export type { StoreQuery, ErrorPolicy } from './messages.ts';
export type { HttpRoute } from './http-server.ts';
