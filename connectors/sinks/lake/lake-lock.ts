/**
 * One process per lake folder: `open` deletes temporary files, which would be another live writer's
 * open files, and two writers would replace each other's marker (and reuse file sequences). So the
 * sink takes `_tributary.lock` (its pid) at its root. A lock whose process is gone (killed) is
 * taken over, and so is one of this process (an instance dropped without close, as after a failed
 * open). Same host only: a lake on a network file system written from two machines is not
 * protected.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamsError } from '../../../engine/index.ts';

export const LOCK = '_tributary.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `root`; SINK_LOCKED (retryable: the other process may stop) when a live process holds it. */
export async function lockLake(root: string, sink: string): Promise<void> {
  const path = join(root, LOCK);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (owner === process.pid) return;
    if (Number.isSafeInteger(owner) && alive(owner)) {
      throw new StreamsError('SINK_LOCKED', `lake sink ${sink}: ${root} is being written by process ${owner}; one process per lake folder`, { canRetry: true });
    }
    await unlink(path).catch(() => {});
  }
  throw new StreamsError('SINK_LOCKED', `lake sink ${sink}: cannot lock ${root}`, { canRetry: true });
}

/** Releases the lock if this process holds it. */
export async function unlockLake(root: string): Promise<void> {
  const path = join(root, LOCK);
  const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
  if (owner === process.pid) await unlink(path).catch(() => {});
}
