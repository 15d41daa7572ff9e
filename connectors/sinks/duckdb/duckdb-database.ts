/**
 * One DuckDB instance per database file in this process, shared by every sink (and reader) of the
 * file and closed when the last one lets go. DuckDB locks its file: a second instance of the same
 * file fails to open, in this process as in another, so the sinks of one application must share
 * one; closing it when they are done frees the file for the next process (an analyst's `duckdb`
 * shell, the next run of the application).
 */
import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

interface Shared {
  readonly instance: Promise<DuckDBInstance>;
  users: number;
}

const open = new Map<string, Shared>();

/** The key of a database: its absolute path, or `:memory:` (one in-memory database per process). */
const keyOf = (path: string) => (path === ':memory:' ? path : resolve(path));

/** The instance of `path`, opened (and the file created) on first use. Each call needs one `releaseDuckDb`. */
export async function acquireDuckDb(path: string): Promise<DuckDBInstance> {
  const key = keyOf(path);
  let shared = open.get(key);
  if (shared === undefined) {
    shared = { instance: DuckDBInstance.create(key), users: 0 };
    open.set(key, shared);
  }
  shared.users++;
  try {
    return await shared.instance;
  } catch (error) {
    // A failed open (the file locked by another process, a bad path) leaves nothing behind: the next acquire tries again.
    if (--shared.users === 0 && open.get(key) === shared) open.delete(key);
    throw error;
  }
}

/** Lets go of `path`; the last user closes the instance (checkpointing its write-ahead log). */
export async function releaseDuckDb(path: string): Promise<void> {
  const key = keyOf(path);
  const shared = open.get(key);
  if (shared === undefined) return;
  if (--shared.users > 0) return;
  open.delete(key);
  const instance = await shared.instance.catch(() => undefined);
  instance?.closeSync();
}
