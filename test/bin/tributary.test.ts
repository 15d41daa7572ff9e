import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../bin/tributary.ts', import.meta.url));
const fixture = fileURLToPath(new URL('../engine/runtime/fixtures/word-count.ts', import.meta.url));

function tributary(args: string[], input?: string | Buffer, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], ...(input !== undefined && { input }) });
}

test('the CLI creates topics, produces from a file and stdin, and consumes from an offset with a limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-'));
  try {
    const d = ['--data-dir', dir];
    assert.match(tributary(['topics', 'create', 'events', '--partitions', '1', ...d]), /created events/);
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '{"key":"a","value":{"n":1},"timestamp":10}\n{"key":"b","value":{"n":2},"timestamp":20}\n');
    assert.match(tributary(['produce', 'events', file, ...d]), /produced 2 records/);
    assert.match(tributary(['produce', 'events', ...d], '{"key":"c","value":{"n":3},"timestamp":30}\n'), /produced 1 records/);
    assert.match(tributary(['topics', ...d]), /events\tpartitions=1\tdelete\tend=3/);
    const lines = tributary(['consume', 'events', '--from', '1', '--limit', '5', ...d]).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { partition: 0, offset: 1, timestamp: 20, key: 'b', value: { n: 2 } },
      { partition: 0, offset: 2, timestamp: 30, key: 'c', value: { n: 3 } },
    ]);
    // Bad input: a clear message and exit code 2.
    assert.throws(() => tributary(['produce', 'nope', ...d], '{"key":"x","value":1}\n'), /topic "nope" does not exist/);
    assert.throws(() => tributary(['produce', 'events', ...d], '{"key":"x", oops}\n'), /line 1 is not valid JSON/);
    // Bytes that are not UTF-8 are refused, not turned into U+FFFD (two different keys would merge).
    assert.throws(() => tributary(['produce', 'events', ...d], Buffer.from([0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0x41, 0xff, 0x22, 0x7d])), /stdin is not valid UTF-8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tributary run serves a topology module; produce and consume go through its HTTP port with the token; SIGTERM stops it cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-run-'));
  const d = ['--data-dir', dir];
  tributary(['topics', 'create', 'sentences', '--partitions', '2', ...d]);
  tributary(['topics', 'create', 'word-counts', '--partitions', '2', ...d]);
  const token = { TRIBUTARY_HTTP_TOKEN: 'cli-token' };
  const child = spawn(process.execPath, [cli, 'run', fixture, '--application-id', 'wc', '--port', '0', '--threads', '1', ...d], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...token },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /queries at (http:\/\/[^/\s]+)\/stores/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`run exited with ${code}: ${out}`)));
    });
    // The log is locked by the running app: direct access is refused with a clear message.
    assert.throws(() => tributary(['topics', ...d]), /LOG_LOCKED/);
    // Without the token: refused with the code, no stack trace.
    assert.throws(
      () => tributary(['produce', 'sentences', '--url', url], '{"key":"s","value":"intruder","timestamp":1}\n'),
      (error: { status: number; stderr: string }) => error.status === 2 && /401 .*\(UNAUTHORIZED\)/.test(error.stderr) && !/\n\s+at /.test(error.stderr),
    );
    tributary(['produce', 'sentences', '--url', url], '{"key":"s","value":"hello hello world","timestamp":1}\n', token);
    const deadline = Date.now() + 15_000;
    let records: { key: string; value: number }[] = [];
    while (Date.now() < deadline) {
      records = [0, 1].flatMap((p) =>
        tributary(['consume', 'word-counts', '--partition', String(p), '--url', url], undefined, token).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)),
      );
      if (records.length === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(records.map((r) => `${r.key}=${r.value}`).sort(), ['hello=1', 'hello=2', 'world=1']);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tributary run exits non-zero with the coded error on stderr, without a stack trace, when the application fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-fail-'));
  const d = ['--data-dir', dir];
  const poison = fileURLToPath(new URL('../engine/runtime/fixtures/poison.ts', import.meta.url));
  try {
    tributary(['topics', 'create', 'events', ...d]);
    tributary(['topics', 'create', 'doubled', ...d]);
    tributary(['produce', 'events', '--value-format', 'string', ...d], '{"key":"b","value":"{not json","timestamp":1}\n');
    const child = spawn(process.execPath, [cli, 'run', poison, '--application-id', 'poisoned', '--port', '0', '--threads', '1', ...d], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise((r) => child.once('exit', r));
    clearTimeout(timer);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^tributary: .*\(DESERIALIZATION_FAILED\)$/m);
    assert.doesNotMatch(stderr, /^\s+at /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
