import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

test('the README example runs as written', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'the README has a marked example');
  const code = match[1]!;
  assert.ok(code.trim().split('\n').length <= 20, 'the example stays short');
  // 'tributary' is the package's built entry point; here the source stands in for it (the package
  // test, test/package/, runs the example against the packed tarball as a user would).
  const dir = join(root, '.cache');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'readme-example.ts');
  writeFileSync(file, code.replace(/from 'tributary'/g, `from '${join(root, 'index.ts')}'`));
  execFileSync(process.execPath, [file], { stdio: 'pipe' });
});
