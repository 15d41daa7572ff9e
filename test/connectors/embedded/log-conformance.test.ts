/** The log SPI conformance suite (test/log-conformance.ts) on the embedded log. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { logConformance } from '../../log-conformance.ts';

logConformance(
  'embedded',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-log-conformance-'));
    const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
    return {
      log,
      topicPrefix: 'conformance-',
      cleanup: async () => {
        await log.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  // Committed records and offsets are visible as soon as the call that wrote them resolves.
  { visibilityTimeoutMs: 0, propertyRuns: 50 },
);
