/**
 * Summarizes V8 CPU profiles written by `node --cpu-prof` (one file per thread): self time per
 * function and per file, for each profile and for all of them together; with --inclusive, also
 * each function's total time (its own and its callees', a function counted once per stack), per
 * profile.
 *
 *   node bench/profile-summary.ts <dir-or-.cpuprofile>... [--top 25] [--inclusive]
 *
 * File names are CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread
 * (with StreamsApp: the thread that owns the embedded log), the others are stream threads.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values: args, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, inclusive: { type: 'boolean', default: false } }, allowPositionals: true });
const top = Number(args.top);
const root = new URL('..', import.meta.url).href;

function files(paths: string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
}

function where(frame: CallFrame): { fn: string; file: string } {
  const file = frame.url === '' ? '(native/VM)' : frame.url.startsWith(root) ? frame.url.slice(root.length) : frame.url.replace(/^file:\/\/.*\/node_modules\//, 'node_modules/');
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  return { fn: frame.url === '' ? name : `${name} ${file}:${frame.lineNumber + 1}`, file: frame.url === '' ? name : file };
}

type Tally = Map<string, number>;
function add(t: Tally, k: string, us: number): void {
  t.set(k, (t.get(k) ?? 0) + us);
}

/** Time under each function: every sample counts once for each distinct function on its stack. */
function inclusive(profile: Profile, byId: ReadonlyMap<number, ProfileNode>): Tally {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs: Tally = new Map();
  profile.samples.forEach((id, i) => add(selfUs, String(id), profile.timeDeltas[i] ?? 0));
  const out: Tally = new Map();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = Number(id); at !== undefined; at = parent.get(at)) {
      const { fn } = where(byId.get(at)!.callFrame);
      if (fn === '(root)' || seen.has(fn)) continue;
      seen.add(fn);
      add(out, fn, us);
    }
  }
  return out;
}

function print(title: string, byFn: Tally, byFile: Tally, totalUs: number, under?: Tally): void {
  const idle = byFn.get('(idle)') ?? 0;
  console.log(`\n== ${title}: ${(totalUs / 1e6).toFixed(2)} s sampled, ${((totalUs - idle) / 1e6).toFixed(2)} s busy (idle excluded below)`);
  const busy = totalUs - idle;
  const show = (t: Tally, label: string) => {
    console.log(`  top ${label} by self time:`);
    for (const [k, us] of [...t].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`    ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
    }
  };
  show(byFn, 'functions');
  show(byFile, 'files');
  if (under === undefined) return;
  console.log('  top functions by total time (with callees):');
  for (const [k, us] of [...under].filter(([k]) => k !== '(idle)' && !k.startsWith('node:')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`    ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
  }
}

const allFn: Tally = new Map();
const allFile: Tally = new Map();
let allUs = 0;
for (const path of files(positionals)) {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFn: Tally = new Map();
  const byFile: Tally = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const { fn, file } = where(byId.get(id)!.callFrame);
    add(byFn, fn, us);
    add(byFile, file, us);
    add(allFn, fn, us);
    add(allFile, file, us);
    total += us;
  });
  allUs += total;
  const thread = basename(path).split('.')[4];
  print(`${basename(path)} (thread ${thread}${thread === '0' ? ', main' : ''})`, byFn, byFile, total, args.inclusive ? inclusive(profile, byId) : undefined);
}
print('all threads', allFn, allFile, allUs);
