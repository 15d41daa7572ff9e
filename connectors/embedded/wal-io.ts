/**
 * The file writes of the embedded log, behind one object so that tests can make a write fail (as
 * with ENOSPC) without filling a disk. Not exported from the package: only tests replace these.
 */
import { fdatasyncSync, writeSync } from 'node:fs';

export const walIo: { writeSync: typeof writeSync; fdatasyncSync: typeof fdatasyncSync } = { writeSync, fdatasyncSync };
