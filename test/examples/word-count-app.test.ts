import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const app = fileURLToPath(new URL('../../examples/word-count-app.ts', import.meta.url));

/** What `npm start` runs: it must come up, count, answer queries and stop cleanly on Ctrl-C. */
test('the npm start application serves live counts on the embedded log and stops on SIGINT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-start-'));
  const child = spawn(process.execPath, [app], { env: { ...process.env, PORT: '0', TRIBUTARY_DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /counts: +(http:\/\/[^/\s]+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const deadline = Date.now() + 15_000;
    let count = 0;
    while (count === 0 && Date.now() < deadline) {
      const res = await fetch(`${base}/stores/word-counts/keys/stream`);
      if (res.ok) count = ((await res.json()) as { value: number }).value;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(count > 0, 'the generated sentences are counted');
    child.kill('SIGINT');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
    assert.match(out, /stopped/);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
