/**
 * A real PostgreSQL server for the sink tests and local use, without Docker (Debian's `postgresql`
 * package provides the binaries; the cluster lives in `.postgres/`).
 *
 *   node scripts/postgres.ts start [--clean]          create the cluster if needed, start it (or find it running), wait until ready
 *   node scripts/postgres.ts stop [--immediate]       stop it (fast shutdown; --immediate is a crash)
 *   node scripts/postgres.ts status                   print what runs
 *
 * Env: PG_PORT (default 55432), PG_BIN (the binaries' directory; default the newest
 * /usr/lib/postgresql/<version>/bin). Connect as `postgres` (trust on 127.0.0.1), database `postgres`.
 * Tests use `startPostgres` / `stopPostgres` from ./postgres-server.ts, re-exported here.
 */
import { parseArgs } from 'node:util';
import { postgresPort, postgresStatus, startPostgres, stopPostgres } from './postgres-server.ts';

export * from './postgres-server.ts';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      clean: { type: 'boolean', default: false },
      immediate: { type: 'boolean', default: false },
    },
  });
  const say = (line: string) => console.log(`postgres: ${line}`);
  switch (positionals[0]) {
    case 'start': {
      const started = Date.now();
      const server = await startPostgres({ clean: values.clean, log: say });
      say(server.reused ? `already running on ${server.host}:${server.port}` : `ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`url: ${server.url}`);
      return 0;
    }
    case 'stop': {
      const stopped = await stopPostgres({ mode: values.immediate ? 'immediate' : 'fast' });
      say(stopped ? 'stopped' : 'not running');
      return 0;
    }
    case 'status': {
      const { layout, port } = postgresStatus();
      say(port === undefined ? `not running (PG_PORT ${postgresPort()})` : `running on 127.0.0.1:${port}`);
      say(`data ${layout.dataDir}, log ${layout.logFile}`);
      return 0;
    }
    default:
      console.error('usage: node scripts/postgres.ts start [--clean] | stop [--immediate] | status');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error & { code?: string }) => {
      console.error(`postgres: ${err.code ? `[${err.code}] ` : ''}${err.message}`);
      process.exit(1);
    },
  );
}
