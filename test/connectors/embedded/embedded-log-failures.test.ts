import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../../connectors/embedded/index.ts';
import { walIo } from '../../../connectors/embedded/wal-io.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'tributary-log-'));
const segment = (dir: string) => join(dir, 'wal', readdirSync(join(dir, 'wal')).sort()[0]!);
const produce = (log: EmbeddedLog, i: number) => log.produce([{ topic: 't', partition: 0, records: [{ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), timestamp: 0 }] }]);

/** Byte positions of the entries of a segment file. */
function entryPositions(file: string): number[] {
  const data = readFileSync(file);
  const out: number[] = [];
  for (let pos = 0; pos < data.byteLength; pos += 8 + data.readUInt32BE(pos)) out.push(pos);
  return out;
}

async function values(log: EmbeddedLog): Promise<string[]> {
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const r = await log.fetch({ topic: 't', partition: 0 }, offset);
    for (const x of r.records) out.push(Buffer.from(x.value!).toString());
    if (r.nextOffset >= r.endOffset) return out;
    offset = r.nextOffset;
  }
}

async function filled(count: number): Promise<string> {
  const dir = tempDir();
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  await log.createTopic('t', { partitions: 1, cleanupPolicy: 'delete' });
  for (let i = 0; i < count; i++) await produce(log, i);
  await log.close();
  return dir;
}

test('a flipped length byte in the middle of a segment refuses to open with CORRUPT_DATA naming the file and byte', async () => {
  const dir = await filled(200);
  const file = segment(dir);
  const at = entryPositions(file)[100]!;
  const bytes = readFileSync(file);
  bytes[at]! ^= 0x80; // the entry now "runs past the end of the file", like a torn tail
  writeFileSync(file, bytes);
  await assert.rejects(EmbeddedLog.open({ dir }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'CORRUPT_DATA');
    assert.ok(error.message.includes(file) && error.message.includes(`byte ${at}`), error.message);
    return true;
  });
  assert.equal(statSync(file).size, bytes.byteLength, 'nothing is truncated');
  rmSync(dir, { recursive: true });
});

test('a torn tail is truncated and the truncation is logged with file, byte offset and bytes dropped', async (t) => {
  const dir = await filled(50);
  const file = segment(dir);
  const last = entryPositions(file).at(-1)!;
  const size = statSync(file).size;
  truncateSync(file, size - 5);
  const warn = t.mock.method(console, 'warn', () => {});
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  assert.equal(warn.mock.callCount(), 1);
  const message = String(warn.mock.calls[0]!.arguments[0]);
  assert.ok(message.includes(file) && message.includes(`byte ${last}`) && message.includes(`${size - 5 - last} bytes`), message);
  assert.equal((await values(log)).length, 49);
  assert.equal(statSync(file).size, last);
  await log.close();
  rmSync(dir, { recursive: true });
});

test('a failed write (ENOSPC) fails the log with LOG_CLOSED; a reopen has every acknowledged record, no gap, no leaked offset', async () => {
  const dir = tempDir();
  let log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  await log.createTopic('t', { partitions: 1, cleanupPolicy: 'delete' });
  const acknowledged: string[] = [];
  for (let i = 0; i < 10; i++) {
    await produce(log, i);
    acknowledged.push(`v${i}`);
  }
  const real = walIo.writeSync;
  let calls = 0;
  // The first write of the group lands halfway, the next runs out of space.
  walIo.writeSync = ((fd: number, buffer: Buffer, offset: number, length: number, position: number) => {
    if (calls++ === 0) return real(fd, buffer, offset, Math.ceil(length / 2), position);
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }) as typeof walIo.writeSync;
  try {
    const failed = await Promise.allSettled([produce(log, 10), produce(log, 11)]);
    for (const r of failed) assert.equal(r.status === 'rejected' && (r.reason as { code?: string }).code, 'LOG_CLOSED');
  } finally {
    walIo.writeSync = real;
  }
  // Space is back: the log still takes nothing until reopened.
  await assert.rejects(produce(log, 12), { code: 'LOG_CLOSED' });
  await assert.rejects(log.commitOffsets('g', new Map([['t:0', 1]])), { code: 'LOG_CLOSED' });
  await assert.rejects(log.fetch({ topic: 't', partition: 0 }, 0), { code: 'LOG_CLOSED' });
  await log.close();
  log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  for (let i = 13; i < 20; i++) {
    await produce(log, i);
    acknowledged.push(`v${i}`);
  }
  await log.close();
  log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  assert.deepEqual(await values(log), acknowledged);
  assert.equal(log.offsets({ topic: 't', partition: 0 }).end, acknowledged.length);
  await log.close();
  rmSync(dir, { recursive: true });
});

const indexUrl = new URL('../../../connectors/embedded/index.ts', import.meta.url).href;

/** A child process that opens the log and prints "won" (then holds it `holdMs`) or the error code. */
function opener(dir: string, holdMs: number) {
  const script =
    `import { EmbeddedLog } from ${JSON.stringify(indexUrl)};` +
    `try { const log = await EmbeddedLog.open({ dir: ${JSON.stringify(dir)}, cleanIntervalMs: 0 }); console.log('won');` +
    ` await new Promise((r) => setTimeout(r, ${holdMs})); await log.close(); }` +
    ` catch (error) { console.log(error.code ?? String(error)); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const first = new Promise<string>((resolve) => child.stdout.on('data', () => out.includes('\n') && resolve(out.trim())));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, first, exited };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test('simultaneous opens from several processes: exactly one wins, the others get LOG_LOCKED; stale LOCK files do not matter', { skip: process.platform !== 'linux' }, async () => {
  for (let round = 0; round < 3; round++) {
    const dir = tempDir();
    writeFileSync(join(dir, 'LOCK'), String(await deadPid()));
    // The winner holds the log until every child has answered (a fixed hold let a child that
    // started late on a loaded machine open it after the winner had closed it), then is killed.
    const children = Array.from({ length: 4 }, () => opener(dir, 120_000));
    const results = await Promise.all(children.map((c) => c.first));
    for (const c of children) c.child.kill('SIGKILL');
    assert.deepEqual(results.sort(), ['LOG_LOCKED', 'LOG_LOCKED', 'LOG_LOCKED', 'won'], `round ${round}`);
    await Promise.all(children.map((c) => c.exited));
    // A LOCK naming a live process (a reused PID, say) does not matter either.
    writeFileSync(join(dir, 'LOCK'), String(process.ppid));
    const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
    await log.close();
    rmSync(dir, { recursive: true });
  }
});

test('a SIGKILLed owner releases the lock at once', async () => {
  const dir = tempDir();
  const owner = opener(dir, 60_000);
  assert.equal(await owner.first, 'won');
  await assert.rejects(EmbeddedLog.open({ dir, cleanIntervalMs: 0 }), { code: 'LOG_LOCKED' });
  owner.child.kill('SIGKILL');
  await owner.exited;
  const log = await EmbeddedLog.open({ dir, cleanIntervalMs: 0 });
  await log.close();
  rmSync(dir, { recursive: true });
});
