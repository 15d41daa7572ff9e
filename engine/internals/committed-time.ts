/**
 * The committed times of a task (ProcessorContext.committedTime, partition times, punctuation
 * schedules) and how they travel with the task's input offsets as commit metadata.
 *
 * Every value only grows, so the metadata of a task's partitions (each carries the whole task's
 * times, committed in one transaction) merge by taking the largest value per name.
 */
import { StreamsError } from '../errors.ts';
import type { CommittedTime } from '../processor.ts';

export class TimeMark implements CommittedTime {
  value: number;

  constructor(value = Number.NEGATIVE_INFINITY) {
    this.value = value;
  }

  advance(to: number): void {
    if (to > this.value) this.value = to;
  }
}

/** What a task commits with one input partition's offset. */
export interface PartitionCheckpoint {
  /** The highest timestamp seen on that partition. */
  readonly partitionTime: number;
  /** The task's committed times by name (only those past -Infinity). */
  readonly times: ReadonlyMap<string, number>;
  /** Next due time of each live punctuation, by `<node>:<type>:<n-th live schedule of that node and type>`. */
  readonly schedules: ReadonlyMap<string, number>;
}

const VERSION = 1;

/** `{"v":1,"p":<partition time>,"t":{name: value},"s":{schedule: due}}`; -Infinity and non-finite values are left out. */
export function encodeCheckpoint(partitionTime: number, times: ReadonlyMap<string, number>, schedules: ReadonlyMap<string, number> = new Map()): string {
  const t: Record<string, number> = {};
  for (const [name, value] of times) if (Number.isFinite(value)) t[name] = value;
  const s: Record<string, number> = {};
  for (const [name, value] of schedules) if (Number.isFinite(value)) s[name] = value;
  return JSON.stringify(Number.isFinite(partitionTime) ? { v: VERSION, p: partitionTime, t, s } : { v: VERSION, t, s });
}

/** Reads what `encodeCheckpoint` wrote; metadata someone else committed is refused with a clear error. */
export function decodeCheckpoint(metadata: string, where: string): PartitionCheckpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata);
  } catch {
    parsed = undefined;
  }
  const ok =
    typeof parsed === 'object' &&
    parsed !== null &&
    (parsed as { v?: unknown }).v === VERSION &&
    typeof (parsed as { t?: unknown }).t === 'object' &&
    (parsed as { t?: unknown }).t !== null;
  if (!ok) {
    throw new StreamsError(
      'CORRUPT_DATA',
      `the offset metadata committed for ${where} is not a Tributary task checkpoint (${JSON.stringify(metadata.slice(0, 80))}); ` +
        'another consumer group with the same application id may have committed it: use a unique applicationId or reset the group',
    );
  }
  const { p, t, s } = parsed as { p?: unknown; t: Record<string, unknown>; s?: unknown };
  const numbers = (o: unknown) => {
    const out = new Map<string, number>();
    if (typeof o === 'object' && o !== null) for (const [name, value] of Object.entries(o)) if (typeof value === 'number') out.set(name, value);
    return out;
  };
  return { partitionTime: typeof p === 'number' ? p : Number.NEGATIVE_INFINITY, times: numbers(t), schedules: numbers(s) };
}
