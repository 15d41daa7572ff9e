/**
 * A real PostgreSQL server run locally without Docker, for the sink tests and local use: Debian's
 * `postgresql` package provides the binaries (`.ci/run` installs it on a fresh machine); this module
 * makes a cluster in a project-local data dir (`.postgres/data`, git-ignored) with trust
 * authentication on 127.0.0.1 only, and starts and stops it with `pg_ctl`.
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user (the
 * Debian package creates it; otherwise this module creates a system user `tributary-pg`). When
 * that user cannot reach the project directory (a checkout under a private home), the data dir
 * moves to a directory under the system's temporary dir named after the project path.
 *
 * Used by `scripts/postgres.ts` (the `postgres:*` npm scripts) and by tests through
 * `startPostgres` / `stopPostgres`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const HOST = '127.0.0.1';
/** The default port: not 5432, so a system cluster and this one do not meet. */
export const DEFAULT_PG_PORT = 55432;
/** The superuser and database tests connect as (trust authentication: no password). */
export const PG_USER = 'postgres';
export const PG_DATABASE = 'postgres';

/** Errors of this module carry a `code`. */
export class PostgresServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PostgresServerError';
    this.code = code;
  }
}

/** The port from PG_PORT, or the default. */
export function postgresPort(): number {
  const port = process.env.PG_PORT ? Number(process.env.PG_PORT) : DEFAULT_PG_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PostgresServerError('INVALID_ARGUMENT', `PG_PORT must be an integer in 1..65535, got ${process.env.PG_PORT}`);
  return port;
}

/** Where the binaries are: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else `pg_config --bindir`. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(base, versions[0]!, 'bin');
  }
  const found = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (found.status === 0 && existsSync(join(found.stdout.trim(), 'pg_ctl'))) return found.stdout.trim();
  throw new PostgresServerError(
    'POSTGRES_NOT_INSTALLED',
    'PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/pg_ctl): install Debian\'s package (apt-get install -y postgresql) or set PG_BIN',
  );
}

// ---------------------------------------------------------------------------------------------
// Who runs the server, and where its files are

interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

function lookupUser(name: string): RunAs | undefined {
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()), name };
}

/** As root: the non-root user the server runs as (created if missing). Otherwise undefined: we are that user. */
function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const existing = lookupUser('postgres') ?? lookupUser('tributary-pg');
  if (existing) return existing;
  const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'tributary-pg'], { encoding: 'utf8' });
  if (made.status !== 0) throw new PostgresServerError('POSTGRES_USER_FAILED', `PostgreSQL will not run as root, and creating the user tributary-pg failed: ${made.stderr.trim()}`);
  return lookupUser('tributary-pg')!;
}

/** Whether `user` can enter `dir` (every directory on the way needs the x bit for it). */
function canReach(user: RunAs | undefined, dir: string): boolean {
  if (user === undefined) return true;
  return spawnSync('test', ['-x', dir, '-a', '-w', dir], { uid: user.uid, gid: user.gid }).status === 0;
}

export interface PostgresLayout {
  /** `.postgres/` in the project, or a directory under the temporary dir (see the module comment). */
  readonly home: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
}

/** The directories of the project's server: `.postgres/` unless the server's user cannot reach it. */
export function postgresLayout(home?: string): PostgresLayout {
  let dir = home;
  if (dir === undefined) {
    dir = join(root, '.postgres');
    mkdirSync(dir, { recursive: true });
    const user = serverUser();
    if (user !== undefined) chownSync(dir, user.uid, user.gid);
    if (!canReach(user, dir)) dir = join(tmpdir(), `tributary-postgres-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`);
  }
  return { home: dir, dataDir: join(dir, 'data'), socketDir: join(dir, 'run'), logFile: join(dir, 'postgres.log') };
}

// ---------------------------------------------------------------------------------------------
// Running the binaries

function run(bin: string, args: string[], user: RunAs | undefined, timeoutMs = 120_000): { status: number | null; output: string } {
  const result = spawnSync(join(postgresBinDir(), bin), args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
    // pg_ctl's server must outlive us: pg_ctl detaches it itself. Run in a directory the user can read.
    cwd: '/',
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    ...(user && { uid: user.uid, gid: user.gid }),
  });
  return { status: result.error ? null : result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? result.error.message : ''}`.trim() };
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolvePromise(false);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** The port the running server of this layout listens on (from its postmaster.pid), if it runs. */
function runningPort(layout: PostgresLayout, user: RunAs | undefined): number | undefined {
  if (!existsSync(join(layout.dataDir, 'PG_VERSION'))) return undefined;
  if (run('pg_ctl', ['status', '-D', layout.dataDir], user).status !== 0) return undefined;
  try {
    // postmaster.pid: pid, data dir, start time, port, socket dir, listen address, ...
    return Number(readFileSync(join(layout.dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
  } catch {
    return undefined;
  }
}

export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  readonly layout: PostgresLayout;
  /** Whether it was already running (nothing was started). */
  readonly reused: boolean;
}

export interface StartPostgresOptions {
  /** Default: PG_PORT or 55432. */
  readonly port?: number;
  /** Default: `.postgres/` (see postgresLayout). */
  readonly home?: string;
  /** Wipe the data dir first. */
  readonly clean?: boolean;
  readonly log?: (line: string) => void;
}

/** Creates the cluster if needed, starts it (or finds it running) and waits until it accepts connections. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const log = options.log ?? (() => {});
  const port = options.port ?? postgresPort();
  const user = serverUser();
  const layout = postgresLayout(options.home);
  const server = (reused: boolean): PostgresServer => ({
    host: HOST,
    port,
    user: PG_USER,
    database: PG_DATABASE,
    url: `postgres://${PG_USER}@${HOST}:${port}/${PG_DATABASE}`,
    layout,
    reused,
  });

  const running = runningPort(layout, user);
  if (running !== undefined) {
    if (running === port && !options.clean) return server(true);
    throw new PostgresServerError('POSTGRES_ALREADY_RUNNING', `PostgreSQL is running from ${layout.dataDir} on port ${running}; stop it first (npm run postgres:stop)`);
  }
  if (options.clean) rmSync(layout.dataDir, { recursive: true, force: true });
  if (await portAnswers(port)) {
    throw new PostgresServerError('POSTGRES_PORT_IN_USE', `port ${port} is in use by another process; stop it or set PG_PORT`);
  }
  for (const dir of [layout.home, layout.socketDir]) {
    mkdirSync(dir, { recursive: true });
    if (user) chownSync(dir, user.uid, user.gid);
  }
  if (!existsSync(join(layout.dataDir, 'PG_VERSION'))) {
    log(`initdb into ${layout.dataDir}${user ? ` (as ${user.name}: PostgreSQL will not run as root)` : ''} ...`);
    rmSync(layout.dataDir, { recursive: true, force: true });
    const init = run('initdb', ['-D', layout.dataDir, '-U', PG_USER, '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--locale=C', '--no-instructions'], user);
    if (init.status !== 0) throw new PostgresServerError('POSTGRES_INITDB_FAILED', `initdb failed:\n${init.output}`);
    const conf = join(layout.dataDir, 'postgresql.conf');
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}\n# Added by scripts/postgres-server.ts\ninclude_if_exists = 'tributary.conf'\n`);
  }
  // Rewritten on every start, as the Kafka script rewrites its properties.
  const settings = join(layout.dataDir, 'tributary.conf');
  writeFileSync(
    settings,
    `# Generated by scripts/postgres-server.ts on every start.
port = ${port}
listen_addresses = '${HOST}'
unix_socket_directories = '${layout.socketDir}'
max_connections = 100
shared_buffers = 128MB
logging_collector = off
`,
  );
  if (user) chownSync(settings, user.uid, user.gid);
  if (existsSync(layout.logFile) && user) chownSync(layout.logFile, user.uid, user.gid);
  log(`starting PostgreSQL on ${HOST}:${port} (log ${layout.logFile}) ...`);
  const started = run('pg_ctl', ['start', '-D', layout.dataDir, '-l', layout.logFile, '-w', '-t', '60'], user, 90_000);
  if (started.status !== 0) {
    throw new PostgresServerError('POSTGRES_START_FAILED', `pg_ctl start failed:\n${started.output}\n${tail(layout.logFile, 30)}`);
  }
  const ready = run('pg_isready', ['-h', HOST, '-p', String(port), '-t', '30'], user);
  if (ready.status !== 0) throw new PostgresServerError('POSTGRES_START_TIMEOUT', `PostgreSQL does not accept connections on ${HOST}:${port}:\n${ready.output}\n${tail(layout.logFile, 30)}`);
  return server(false);
}

/**
 * Stops the project's server. `fast` (default) disconnects clients and shuts down cleanly;
 * `immediate` is a crash (recovery runs at the next start). Returns whether it was running.
 */
export async function stopPostgres(options: { home?: string; mode?: 'smart' | 'fast' | 'immediate' } = {}): Promise<boolean> {
  const user = serverUser();
  const layout = postgresLayout(options.home);
  if (runningPort(layout, user) === undefined) return false;
  const stopped = run('pg_ctl', ['stop', '-D', layout.dataDir, '-m', options.mode ?? 'fast', '-w', '-t', '60'], user, 90_000);
  if (stopped.status !== 0) throw new PostgresServerError('POSTGRES_STOP_FAILED', `pg_ctl stop failed:\n${stopped.output}`);
  return true;
}

/** What runs: the port, or undefined. */
export function postgresStatus(options: { home?: string } = {}): { layout: PostgresLayout; port: number | undefined } {
  const layout = postgresLayout(options.home);
  return { layout, port: runningPort(layout, serverUser()) };
}
