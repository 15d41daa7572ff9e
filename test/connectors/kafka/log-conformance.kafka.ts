import { logConformance } from '../../log-conformance.ts';
import { openLog, unique } from './broker.ts';

// The Log SPI's behaviours, checked on the real broker (the same suite runs on the embedded log).
logConformance('kafka', async () => {
  const log = openLog(unique('conformance'));
  return { log, topicPrefix: `${unique('conf')}-`, cleanup: () => log.close() };
});
