import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Serdes, Stores, Topology, type Processor } from '../../../index.ts';
import { prepareStores } from '../../../engine/runtime/task-state.ts';
import { LocalStateDb } from '../../../engine/state/local-state.ts';

const str = Serdes.string();
const nothing = (): Processor<string, string> => ({ process() {} });
const KEYS = 2400;

function topology(): Topology {
  return new Topology()
    .addSource('src', { topics: 'in', key: str, value: str })
    .addProcessor('proc', nothing, 'src')
    .addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore('kv'), str, str), 'proc');
}

async function prepare(dir: string, warnings: string[]) {
  return prepareStores({
    stateDir: dir,
    applicationId: 'app',
    taskId: '0_3',
    topology: topology(),
    storeNames: ['kv'],
    changelogs: { kv: 'app-kv-changelog' },
    changelogEnds: new Map([['app-kv-changelog', KEYS]]),
    cacheBytesPerStore: 1024,
    warn: (message) => warnings.push(message),
  });
}

/** Writes KEYS rows in commits of 100, as a stream thread would, each with its changelog position. */
async function fill(dir: string): Promise<string> {
  const { db } = await prepare(dir, []);
  const value = Buffer.alloc(200, 'v');
  for (let i = 0; i < KEYS; i++) {
    db!.write('kv', `key-${i}`, value, i);
    if ((i + 1) % 100 === 0) await db!.commit(new Map([['app-kv-changelog', i + 1]]));
  }
  await db!.close();
  return db!.path;
}

function corrupt(file: string): void {
  const bytes = readFileSync(file);
  for (let i = Math.floor(bytes.length / 3); i < Math.floor(bytes.length / 3) + 64; i++) bytes[i] = bytes[i]! ^ 0x5a;
  writeFileSync(file, bytes);
}

function filesEnding(path: string, ext: string): string[] {
  return readdirSync(path)
    .filter((f) => f.endsWith(ext))
    .map((f) => join(path, f))
    .filter((f) => statSync(f).size > 0);
}

async function assertRebuilt(dir: string, path: string): Promise<void> {
  const warnings: string[] = [];
  const prepared = await prepare(dir, warnings);
  try {
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /task 0_3/);
    assert.ok(warnings[0]!.includes(path), warnings[0]);
    // Nothing of the damaged copy is trusted: the store restores the whole changelog.
    assert.equal(prepared.restoreFrom.get('kv'), 0);
    assert.equal((await prepared.db!.keys('kv')).length, 0);
  } finally {
    await prepared.db!.close();
  }
}

test('an intact local state is verified at open and kept, without a warning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-task-damage-'));
  try {
    await fill(dir);
    const warnings: string[] = [];
    const prepared = await prepare(dir, warnings);
    assert.deepEqual(warnings, []);
    assert.equal(prepared.restoreFrom.get('kv'), KEYS);
    assert.equal((await prepared.db!.keys('kv')).length, KEYS);
    await prepared.db!.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('damaged bytes in the LevelDB write-ahead log (.log): the task state is dropped with a warning and rebuilt from the changelog', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-task-damage-'));
  try {
    const path = await fill(dir);
    const logs = filesEnding(path, '.log').filter((f) => !f.endsWith('LOG'));
    assert.equal(logs.length, 1);
    corrupt(logs[0]!);
    await assertRebuilt(dir, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('damaged bytes in a LevelDB table file (.ldb): the task state is dropped with a warning and rebuilt from the changelog', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-task-damage-'));
  try {
    const path = await fill(dir);
    // Reopened once, LevelDB moves the write-ahead log into a table file.
    await (await LocalStateDb.open(path)).close();
    const tables = filesEnding(path, '.ldb');
    assert.ok(tables.length > 0);
    for (const table of tables) corrupt(table);
    await assertRebuilt(dir, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
