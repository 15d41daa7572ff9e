/**
 * Feature windows: sliding windows with their hop as resolution, and the lifetime window.
 *
 * Events are added to tiles of `hop` ms (a tile starts at a multiple of the hop, in epoch ms). A
 * read at `now` of a window of length W merges the tiles whose start is in (now - W - hop, now],
 * that is every event with a time in [tileStart(now - W), now] when no event is newer than `now`:
 * the window spans from W to W + hop back, never less than its name says.
 */

/** A duration: milliseconds, or a number and a unit: `30s`, `5m`, `1h`, `7d`. */
export type Duration = number | `${number}${'s' | 'm' | 'h' | 'd'}`;

/** A sliding window (`{ hop: '5m' }` under the key `1h`, or `{ size: '1h', hop: '5m' }`) or the lifetime. */
export type WindowSpec = { readonly size?: Duration; readonly hop: Duration } | 'lifetime';

const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration (RangeError for anything else). */
export function durationMs(d: Duration | string, what = 'duration'): number {
  if (typeof d === 'number') {
    if (Number.isInteger(d) && d > 0) return d;
  } else {
    const m = /^(\d+)([smhd])$/.exec(d);
    if (m !== null && Number(m[1]) > 0) return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
  }
  throw new RangeError(`${what} must be a positive integer of ms or a duration like '5m', '1h', '7d', got ${JSON.stringify(d)}`);
}

/** A window as the topology uses it: its name, size and hop in ms (null for the lifetime). */
export interface ResolvedWindow {
  readonly name: string;
  readonly sizeMs: number | null;
  readonly hopMs: number | null;
}

export function resolveWindow(name: string, spec: WindowSpec): ResolvedWindow {
  if (spec === 'lifetime') return { name, sizeMs: null, hopMs: null };
  const sizeMs = durationMs(spec.size ?? (name as Duration), `window '${name}' size (the key, or size:)`);
  const hopMs = durationMs(spec.hop, `window '${name}' hop`);
  if (hopMs > sizeMs || sizeMs % hopMs !== 0) throw new RangeError(`window '${name}': the hop (${hopMs} ms) must divide the size (${sizeMs} ms)`);
  return { name, sizeMs, hopMs };
}

/** The start of the tile of `time`. */
export function tileStart(time: number, hopMs: number): number {
  return time - (((time % hopMs) + hopMs) % hopMs);
}

/** Whether a tile starting at `start` is read by a window of `sizeMs` / `hopMs` at `now`. */
export function tileInWindow(start: number, now: number, sizeMs: number, hopMs: number): boolean {
  return start > now - sizeMs - hopMs && start <= now;
}
