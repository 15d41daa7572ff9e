export { StreamsApp } from './streams-app.ts';
export type { StreamsAppOptions, StreamsState, TopologyModule } from './streams-app.ts';
export { LogClient, serveLog } from './log-rpc.ts';
export { murmur2, partitionForKey } from './partitioner.ts';
export { parseKey } from './queries.ts';
export type { StoreQuery, ErrorPolicy } from './messages.ts';
export type { HttpOptions, HttpRoute } from './http-server.ts';
export { parseRecords } from './http-server.ts';
