import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../bin/tributary.ts', import.meta.url));
const fixture = fileURLToPath(new URL('../engine/runtime/fixtures/word-count.ts', import.meta.url));

function tributary(args: string[], input?: string | Buffer, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], ...(input !== undefined && { input }) });
}

test('the CLI creates topics, produces from a file and stdin, and consumes from an offset with a limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-'));
  try {
    const d = ['--data-dir', dir];
    assert.match(tributary(['topics', 'create', 'events', '--partitions', '1', ...d]), /created events/);
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '{"key":"a","value":{"n":1},"timestamp":10}\n{"key":"b","value":{"n":2},"timestamp":20}\n');
    assert.match(tributary(['produce', 'events', file, ...d]), /produced 2 records/);
    assert.match(tributary(['produce', 'events', ...d], '{"key":"c","value":{"n":3},"timestamp":30}\n'), /produced 1 records/);
    assert.match(tributary(['topics', ...d]), /events\tpartitions=1\tdelete\tend=3/);
    const lines = tributary(['consume', 'events', '--from', '1', '--limit', '5', ...d]).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { partition: 0, offset: 1, timestamp: 20, key: 'b', value: { n: 2 } },
      { partition: 0, offset: 2, timestamp: 30, key: 'c', value: { n: 3 } },
    ]);
    // Bad input: a clear message and exit code 2.
    assert.throws(() => tributary(['produce', 'nope', ...d], '{"key":"x","value":1}\n'), /topic "nope" does not exist/);
    assert.throws(() => tributary(['produce', 'events', ...d], '{"key":"x", oops}\n'), /line 1 is not valid JSON/);
    // Bytes that are not UTF-8 are refused, not turned into U+FFFD (two different keys would merge).
    assert.throws(() => tributary(['produce', 'events', ...d], Buffer.from([0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0x41, 0xff, 0x22, 0x7d])), /stdin is not valid UTF-8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tributary run serves a topology module; produce and consume go through its HTTP port with the token; SIGTERM stops it cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-run-'));
  const d = ['--data-dir', dir];
  tributary(['topics', 'create', 'sentences', '--partitions', '2', ...d]);
  tributary(['topics', 'create', 'word-counts', '--partitions', '2', ...d]);
  const token = { TRIBUTARY_HTTP_TOKEN: 'cli-token' };
  const child = spawn(process.execPath, [cli, 'run', fixture, '--application-id', 'wc', '--port', '0', '--threads', '1', ...d], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...token },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /queries at (http:\/\/[^/\s]+)\/stores/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`run exited with ${code}: ${out}`)));
    });
    // The log is locked by the running app: direct access is refused with a clear message.
    assert.throws(() => tributary(['topics', ...d]), /LOG_LOCKED/);
    // Without the token: refused with the code, no stack trace.
    assert.throws(
      () => tributary(['produce', 'sentences', '--url', url], '{"key":"s","value":"intruder","timestamp":1}\n'),
      (error: { status: number; stderr: string }) => error.status === 2 && /401 .*\(UNAUTHORIZED\)/.test(error.stderr) && !/\n\s+at /.test(error.stderr),
    );
    tributary(['produce', 'sentences', '--url', url], '{"key":"s","value":"hello hello world","timestamp":1}\n', token);
    const deadline = Date.now() + 15_000;
    let records: { key: string; value: number }[] = [];
    while (Date.now() < deadline) {
      records = [0, 1].flatMap((p) =>
        tributary(['consume', 'word-counts', '--partition', String(p), '--url', url], undefined, token).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)),
      );
      if (records.length === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The record cache (on by default) merges the two updates of "hello" one sentence makes.
    assert.deepEqual(records.map((r) => `${r.key}=${r.value}`).sort(), ['hello=2', 'world=1']);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tributary run exits non-zero with the coded error on stderr, without a stack trace, when the application fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-fail-'));
  const d = ['--data-dir', dir];
  const poison = fileURLToPath(new URL('../engine/runtime/fixtures/poison.ts', import.meta.url));
  try {
    tributary(['topics', 'create', 'events', ...d]);
    tributary(['topics', 'create', 'doubled', ...d]);
    tributary(['produce', 'events', '--value-format', 'string', ...d], '{"key":"b","value":"{not json","timestamp":1}\n');
    const child = spawn(process.execPath, [cli, 'run', poison, '--application-id', 'poisoned', '--port', '0', '--threads', '1', ...d], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise((r) => child.once('exit', r));
    clearTimeout(timer);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^tributary: .*\(DESERIALIZATION_FAILED\)$/m);
    assert.doesNotMatch(stderr, /^\s+at /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the CLI expecting a failure; returns its exit code and stderr. */
function refused(args: string[], input?: string): { status: number; stderr: string } {
  try {
    tributary(args, input);
  } catch (error) {
    const { status, stderr } = error as { status: number; stderr: string };
    return { status, stderr };
  }
  return assert.fail(`tributary ${args.join(' ')} succeeded`);
}

test('mistakes on the command line get one line naming the command, exit 2 and no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-usage-'));
  try {
    const cases: [string[], RegExp][] = [
      [['frob'], /^tributary: unknown command "frob"; the commands are init, run, topics, topics create, produce, consume/],
      [['--bogus'], /^tributary: --bogus before a command/],
      [['consume', 'events', '--bogus'], /^tributary consume: --bogus is not an option of `tributary consume`/],
      // --url is documented by topics, produce and consume only.
      [['run', fixture, '--url', 'http://127.0.0.1:1'], /^tributary run: --url is not an option of `tributary run` \(it belongs to `tributary topics`, `tributary produce`, `tributary consume`\)/],
      [['topics', 'create', 'x', '--url', 'http://127.0.0.1:1'], /^tributary topics create: --url is not an option/],
      [['init', join(dir, 'p'), '--url', 'http://127.0.0.1:1'], /^tributary init: --url is not an option/],
      // An option of another subcommand.
      [['topics', '--compact'], /^tributary topics: --compact is not an option of `tributary topics` \(it belongs to `tributary topics create`\)/],
      [['consume', 'events', '--limit'], /^tributary consume: --limit needs a value \(N\)/],
      [['consume', 'events', '--limit', 'many', '--data-dir', dir], /^tributary consume: --limit must be a non-negative integer, got "many"/],
      [['topics', 'create', 'x', '--partitions', '0', '--data-dir', dir], /^tributary topics create: --partitions must be at least 1/],
      [['topics', 'create'], /^tributary topics create: missing NAME; usage: tributary topics create NAME \[options\]/],
      [['topics', 'create', 'a', 'b'], /^tributary topics create: unexpected argument "b"/],
      [['produce', 'events', '--key-format', 'xml', '--data-dir', dir], /^tributary produce: --key-format must be string or json, got "xml"/],
      [['consume', 'nope', '--data-dir', dir], /^tributary consume: topic "nope" does not exist/],
      [['run', join(dir, 'missing.ts')], /^tributary run: .*missing\.ts is not a file/],
      [['run', fixture, '--port', '70000'], /^tributary run: --port must be at most 65535/],
      [['produce', 'events', '--url', 'ftp://x'], /^tributary produce: --url must be an http\(s\) address/],
      [['help', 'frob'], /^tributary: no command "frob"/],
    ];
    for (const [args, expected] of cases) {
      const { status, stderr } = refused(args, '');
      assert.equal(status, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, expected, args.join(' '));
      assert.equal(stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help per subcommand lists only its options; help COMMAND says the same; --version prints the version', () => {
  const produceHelp = tributary(['produce', '--help']);
  assert.match(produceHelp, /^usage: tributary produce TOPIC \[FILE\] \[options\]/);
  assert.match(produceHelp, /--url URL/);
  assert.doesNotMatch(produceHelp, /--port/);
  assert.equal(tributary(['help', 'produce']), produceHelp);
  const runHelp = tributary(['run', '-h']);
  assert.match(runHelp, /--port PORT +its port \(default 8080; 0 picks a free one\)/);
  assert.doesNotMatch(runHelp, /--url/);
  assert.match(tributary(['help', 'topics', 'create']), /--compact/);
  assert.match(tributary(['--help']), /tributary init DIR +scaffold a project/);
  assert.equal(tributary(['--version']).trim(), JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
});

test('a port in use names the port and --port; exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-port-'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as AddressInfo).port;
  try {
    tributary(['topics', 'create', 'sentences', '--data-dir', dir]);
    tributary(['topics', 'create', 'word-counts', '--data-dir', dir]);
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, 'run', fixture, '--port', String(port), '--threads', '1', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim(), `tributary run: port ${port} on 127.0.0.1 is in use; choose another with --port (--port 0 picks a free one)`);
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tributary init scaffolds a project into a new or empty directory, and refuses one with files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-init-'));
  try {
    const target = join(dir, 'My Streams');
    const out = tributary(['init', target]);
    assert.match(out, /created my-streams in/);
    const pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; scripts: Record<string, string> };
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    assert.equal(pkg.name, 'my-streams');
    assert.deepEqual(pkg.dependencies, { tributary: `^${version}` });
    assert.deepEqual(Object.keys(pkg.scripts).sort(), ['start', 'test', 'typecheck']);
    for (const file of ['tsconfig.json', '.gitignore', 'README.md', 'src/topology.ts', 'src/main.ts', 'test/topology.test.ts']) {
      assert.ok(existsSync(join(target, file)), file);
    }
    assert.match(readFileSync(join(target, 'src/main.ts'), 'utf8'), /applicationId: "my-streams"/);
    const { status, stderr } = refused(['init', target]);
    assert.equal(status, 2);
    assert.match(stderr, /is not empty; init writes a new project into a new or empty directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
