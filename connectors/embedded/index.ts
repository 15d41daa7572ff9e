export { EmbeddedLog } from './embedded-log.ts';
export type { EmbeddedLogOptions } from './embedded-log.ts';
