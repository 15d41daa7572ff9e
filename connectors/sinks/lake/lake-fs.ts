/**
 * The file-system steps of the lake sink that must survive a power cut: fsync of a folder (so a
 * rename in it is durable), replacing a small file atomically (temporary name, fsync, rename, fsync
 * the folder), and finding what a crashed run left behind.
 */
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isTemporary, sequenceOf } from './lake-layout.ts';

/** Flushes a folder's entries (renames, new files) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `text`: readers see the old content or the new one, never a part. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

/** What lies under a sink's root: data files by sequence, and temporary files. Paths relative to the root. */
export interface LakeListing {
  readonly dataFiles: readonly { readonly path: string; readonly sequence: number }[];
  readonly temporary: readonly string[];
}

export async function listLake(root: string): Promise<LakeListing> {
  const dataFiles: { path: string; sequence: number }[] = [];
  const temporary: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name).slice(root.length + 1);
    const sequence = sequenceOf(entry.name);
    if (sequence !== undefined) dataFiles.push({ path, sequence });
    else if (isTemporary(entry.name)) temporary.push(path);
  }
  return { dataFiles, temporary };
}

/** Removes files (relative to root) and fsyncs the folders they were in. */
export async function removeAll(root: string, paths: readonly string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const path of paths) {
    await unlink(join(root, path)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    dirs.add(dirname(join(root, path)));
  }
  for (const dir of dirs) await fsyncDir(dir);
}
