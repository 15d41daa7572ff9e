import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignTasks, type ProcessInfo } from '../../../engine/runtime/assignor.ts';

const tasksOf = (n: number) => Array.from({ length: n }, (_, i) => `0_${i}`);

test('every task goes to exactly one member; equal members differ by at most one task; previous owners keep their share', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (n, ids, seed) => {
        const tasks = tasksOf(n);
        // Previous tasks: a random earlier owner per task (some tasks had none).
        const previous = new Map<string, string[]>(ids.map((id) => [id, []]));
        tasks.forEach((t, i) => {
          const owner = (seed >> i % 31) % (ids.length + 1);
          if (owner < ids.length) previous.get(ids[owner]!)!.push(t);
        });
        const processes: ProcessInfo[] = ids.map((memberId) => ({ memberId, threads: 1, previousTasks: previous.get(memberId)! }));
        const out = assignTasks(tasks, processes);
        assert.deepEqual([...out.keys()].sort(), [...tasks].sort());
        const loads = ids.map((id) => [...out.values()].filter((m) => m === id).length);
        assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `balanced: ${loads}`);
        const share = Math.floor(n / ids.length);
        for (const id of ids) {
          const kept = previous.get(id)!.filter((t) => out.get(t) === id).length;
          assert.ok(kept >= Math.min(share, previous.get(id)!.length), `${id} keeps ${kept} of ${previous.get(id)!.length}`);
        }
        assert.deepEqual(assignTasks(tasks, [...processes].reverse()), out, 'deterministic whatever the member order');
      },
    ),
    { numRuns: 300 },
  );
});

test('capacity follows threads: a process with two threads gets twice the tasks', () => {
  const out = assignTasks(tasksOf(12), [
    { memberId: 'a', threads: 2, previousTasks: [] },
    { memberId: 'b', threads: 1, previousTasks: [] },
  ]);
  assert.equal([...out.values()].filter((m) => m === 'a').length, 8);
});

test('a process that comes back gets its tasks back when the balance allows', () => {
  const tasks = tasksOf(6);
  const first = assignTasks(tasks, [
    { memberId: 'a', threads: 1, previousTasks: [] },
    { memberId: 'b', threads: 1, previousTasks: [] },
  ]);
  const ofB = tasks.filter((t) => first.get(t) === 'b');
  // b leaves: a takes everything; b returns (with its local state for its old tasks).
  const alone = assignTasks(tasks, [{ memberId: 'a', threads: 1, previousTasks: tasks.filter((t) => first.get(t) === 'a') }]);
  assert.equal(new Set(alone.values()).size, 1);
  const back = assignTasks(tasks, [
    { memberId: 'a', threads: 1, previousTasks: [...tasks.filter((t) => first.get(t) === 'a'), ...ofB] },
    { memberId: 'b2', threads: 1, previousTasks: ofB },
  ]);
  assert.deepEqual(tasks.filter((t) => back.get(t) === 'b2'), ofB);
});

test('with stateful tasks named, they are balanced among themselves and the stateless ones even out the total', () => {
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }),
      (kinds, members, owners) => {
        const tasks = kinds.map((_, i) => `${i % 3}_${i}`);
        const stateful = new Set(tasks.filter((_, i) => kinds[i]));
        const ids = Array.from({ length: members }, (_, i) => `m${i}`);
        // Stickiness pulls the other way: previous owners chosen at random, often lopsided.
        const processes: ProcessInfo[] = ids.map((memberId, m) => ({ memberId, threads: 1, previousTasks: tasks.filter((_, i) => (owners[i] ?? 0) % members === m) }));
        const out = assignTasks(tasks, processes, { stateful });
        assert.deepEqual([...out.keys()].sort(), [...tasks].sort());
        const count = (id: string, only?: boolean) => tasks.filter((t) => out.get(t) === id && (only === undefined || stateful.has(t) === only)).length;
        const spread = (f: (id: string) => number) => Math.max(...ids.map(f)) - Math.min(...ids.map(f));
        assert.ok(spread((id) => count(id, true)) <= 1, 'stateful tasks balanced');
        assert.ok(spread((id) => count(id)) <= 1, 'total balanced');
      },
    ),
  );
});

test('without the split, stickiness can leave every store on one process; with it, they are shared', () => {
  const stateful = ['1_0', '1_1', '1_2', '1_3'];
  const stateless = ['0_0', '0_1', '0_2', '0_3'];
  const processes: ProcessInfo[] = [
    { memberId: 'a', threads: 1, previousTasks: stateful },
    { memberId: 'b', threads: 1, previousTasks: stateless },
  ];
  const plain = assignTasks([...stateless, ...stateful], processes);
  assert.deepEqual(stateful.map((t) => plain.get(t)), ['a', 'a', 'a', 'a']);
  const split = assignTasks([...stateless, ...stateful], processes, { stateful: new Set(stateful) });
  assert.equal(stateful.filter((t) => split.get(t) === 'a').length, 2);
  assert.equal(stateless.filter((t) => split.get(t) === 'a').length, 2);
});
