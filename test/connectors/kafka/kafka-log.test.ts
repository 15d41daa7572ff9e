import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { KafkaLog } from '../../../connectors/kafka/index.ts';
import { StreamsApp, type StreamsState } from '../../../index.ts';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('an unreachable broker is retried for unavailableRetryMs, then fails with LOG_UNAVAILABLE; the app goes to ERROR', async () => {
  const port = await closedPort();
  const log = new KafkaLog({ bootstrapBrokers: [`127.0.0.1:${port}`], unavailableRetryMs: 600, client: { retries: 0, connectTimeout: 200 } });
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (message: string) => void warnings.push(message);
  try {
    const started = Date.now();
    await assert.rejects(log.topics(), { code: 'LOG_UNAVAILABLE' });
    assert.ok(Date.now() - started >= 500, 'retried until the bound');
    assert.ok(warnings.some((w) => /unreachable.*retrying/.test(w)), 'each retry is reported');

    const states: StreamsState[] = [];
    const app = new StreamsApp({ module: new URL('./fixtures/word-count.ts', import.meta.url) }, { applicationId: 'unreachable', log, stateDir: false });
    app.onStateChange((next) => states.push(next));
    await assert.rejects(app.start(), { code: 'LOG_UNAVAILABLE' });
    assert.deepEqual(states, ['REBALANCING', 'ERROR', 'PENDING_SHUTDOWN', 'NOT_RUNNING']);
  } finally {
    console.warn = warn;
    await log.close();
  }
});

test('KafkaLog needs bootstrap brokers', () => {
  assert.throws(() => new KafkaLog({ bootstrapBrokers: [] }), { code: 'INVALID_ARGUMENT' });
});

test("a failure the broker answered names the broker's errors in its message (the client's own message leaves them out)", async () => {
  const { ResponseError } = await import('@platformatic/kafka');
  const { describeKafkaCause, brokerErrorNames } = await import('../../../connectors/kafka/calls.ts');
  const error = new ResponseError(26, 4, { '/': [48, null] }, {});
  assert.deepEqual(brokerErrorNames(error), ['INVALID_TXN_STATE']);
  assert.match(describeKafkaCause(error), /^Received response with error while executing API EndTxn\(v4\) \(INVALID_TXN_STATE\)$/);
  assert.deepEqual(brokerErrorNames(new Error('plain')), []);
  assert.equal(describeKafkaCause(new Error('plain')), 'plain');
});
