/**
 * A real Redis server run locally without Docker, for the hot-cache sink tests and local use:
 * Debian's `redis-server` package provides the binary (`.ci/run` installs it on a fresh machine);
 * this module runs it on 127.0.0.1 only with its files in a project-local dir (`.redis/`,
 * git-ignored): the config it writes on every start, the pid file, the log and the data (an
 * append-only file, so a stopped and restarted server keeps its keys, as a deployed cache with
 * persistence does).
 *
 * Readiness and shutdown speak Redis' protocol over a plain socket (PING until PONG, SHUTDOWN),
 * so neither a client library nor `redis-cli` is needed.
 *
 * Used by `scripts/redis.ts` (the `redis:*` npm scripts) and by tests through `startRedis` / `stopRedis`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
const HOST = '127.0.0.1';
/** The default port: not 6379, so a system Redis and this one do not meet. */
export const DEFAULT_REDIS_PORT = 56379;

/** Errors of this module carry a `code`. */
export class RedisServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RedisServerError';
    this.code = code;
  }
}

/** The port from REDIS_PORT, or the default. */
export function redisPort(): number {
  const port = process.env.REDIS_PORT ? Number(process.env.REDIS_PORT) : DEFAULT_REDIS_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisServerError('INVALID_ARGUMENT', `REDIS_PORT must be an integer in 1..65535, got ${process.env.REDIS_PORT}`);
  return port;
}

/** The server binary: REDIS_BIN, else `redis-server` on PATH (Debian puts it in /usr/bin). */
export function redisBin(): string {
  if (process.env.REDIS_BIN) return process.env.REDIS_BIN;
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return 'redis-server';
  throw new RedisServerError('REDIS_NOT_INSTALLED', "redis-server not found: install Debian's package (apt-get install -y redis-server) or set REDIS_BIN");
}

export interface RedisLayout {
  readonly home: string;
  readonly dataDir: string;
  readonly confFile: string;
  readonly pidFile: string;
  readonly logFile: string;
}

export function redisLayout(home = join(root, '.redis')): RedisLayout {
  return { home, dataDir: join(home, 'data'), confFile: join(home, 'redis.conf'), pidFile: join(home, 'redis.pid'), logFile: join(home, 'redis.log') };
}

/**
 * Sends one command and resolves with the first line of the reply (`+PONG`, `-LOADING ...`), or
 * `closed` if the server closed the connection without one (what SHUTDOWN does), or `refused`.
 */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 2000): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    let settled = false;
    const finish = (result: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const end = reply.indexOf('\r\n');
      if (end >= 0) finish(reply.slice(0, end));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.on('close', () => finish('closed'));
  });
}

/** The pid of the project's server, if its pid file names a live process. */
function runningPid(layout: RedisLayout): number | undefined {
  if (!existsSync(layout.pidFile)) return undefined;
  const pid = Number(readFileSync(layout.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines: number): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly layout: RedisLayout;
  /** Whether it was already running (nothing was started). */
  readonly reused: boolean;
}

export interface StartRedisOptions {
  /** Default: REDIS_PORT or 56379. */
  readonly port?: number;
  /** Default: `.redis/` (see redisLayout). */
  readonly home?: string;
  /** Wipe the data first. */
  readonly clean?: boolean;
  readonly log?: (line: string) => void;
}

/** Starts the server (or finds it running) and waits until it answers PING (after loading its data). */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const log = options.log ?? (() => {});
  const port = options.port ?? redisPort();
  const layout = redisLayout(options.home);
  const server = (reused: boolean): RedisServer => ({ host: HOST, port, url: `redis://${HOST}:${port}`, layout, reused });
  const pid = runningPid(layout);
  if (pid !== undefined) {
    if (!options.clean && (await redisCommand(port, ['PING'])) === '+PONG') return server(true);
    throw new RedisServerError('REDIS_ALREADY_RUNNING', `Redis (pid ${pid}) is running from ${layout.home} but not answering on port ${port}; stop it first (npm run redis:stop)`);
  }
  if ((await redisCommand(port, ['PING'])) !== 'refused') throw new RedisServerError('REDIS_PORT_IN_USE', `port ${port} is in use by another process; stop it or set REDIS_PORT`);
  if (options.clean) rmSync(layout.dataDir, { recursive: true, force: true });
  mkdirSync(layout.dataDir, { recursive: true });
  // Rewritten on every start, as the PostgreSQL and Kafka scripts rewrite theirs.
  writeFileSync(
    layout.confFile,
    `# Generated by scripts/redis-server.ts on every start.
port ${port}
bind ${HOST}
protected-mode yes
daemonize yes
pidfile ${layout.pidFile}
logfile ${layout.logFile}
dir ${layout.dataDir}
# Persistence: an append-only file fsynced every second (SHUTDOWN flushes it); no RDB snapshots.
appendonly yes
appendfsync everysec
save ""
`,
  );
  log(`starting Redis on ${HOST}:${port} (log ${layout.logFile}) ...`);
  const started = spawnSync(redisBin(), [layout.confFile], { encoding: 'utf8', timeout: 30_000 });
  if (started.status !== 0) throw new RedisServerError('REDIS_START_FAILED', `redis-server failed to start:\n${started.stdout}${started.stderr}\n${tail(layout.logFile, 30)}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const reply = await redisCommand(port, ['PING']);
    if (reply === '+PONG') return server(false);
    if (Date.now() > deadline) throw new RedisServerError('REDIS_START_TIMEOUT', `Redis does not answer PING on ${HOST}:${port} (last: ${reply}):\n${tail(layout.logFile, 30)}`);
    await sleep(50);
  }
}

/** Stops the project's server with SHUTDOWN (flushing its append-only file), SIGTERM if it does not answer. Returns whether it was running. */
export async function stopRedis(options: { home?: string; port?: number } = {}): Promise<boolean> {
  const layout = redisLayout(options.home);
  const pid = runningPid(layout);
  if (pid === undefined) return false;
  const reply = await redisCommand(options.port ?? redisPort(), ['SHUTDOWN']);
  if (reply !== 'closed') process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (runningPid(layout) === pid) {
    if (Date.now() > deadline) throw new RedisServerError('REDIS_STOP_FAILED', `Redis (pid ${pid}) did not stop in 30 s:\n${tail(layout.logFile, 30)}`);
    await sleep(50);
  }
  return true;
}

/** What runs: the pid, or undefined. */
export function redisStatus(options: { home?: string } = {}): { layout: RedisLayout; pid: number | undefined } {
  const layout = redisLayout(options.home);
  return { layout, pid: runningPid(layout) };
}
