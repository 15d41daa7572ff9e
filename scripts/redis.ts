/**
 * A real Redis server for the hot-cache sink tests and local use, without Docker (Debian's
 * `redis-server` package provides the binary; config, data and log live in `.redis/`).
 *
 *   node scripts/redis.ts start [--clean]      start it (or find it running), wait until it answers PING
 *   node scripts/redis.ts stop                 stop it (SHUTDOWN: the append-only file is flushed)
 *   node scripts/redis.ts status               print what runs
 *
 * Env: REDIS_PORT (default 56379), REDIS_BIN (default `redis-server` on PATH). No password; bound to 127.0.0.1.
 * Tests use `startRedis` / `stopRedis` from ./redis-server.ts, re-exported here.
 */
import { parseArgs } from 'node:util';
import { redisPort, redisStatus, startRedis, stopRedis } from './redis-server.ts';

export * from './redis-server.ts';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { clean: { type: 'boolean', default: false } } });
  const say = (line: string) => console.log(`redis: ${line}`);
  switch (positionals[0]) {
    case 'start': {
      const started = Date.now();
      const server = await startRedis({ clean: values.clean, log: say });
      say(server.reused ? `already running on ${server.host}:${server.port}` : `ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`url: ${server.url}`);
      return 0;
    }
    case 'stop': {
      say((await stopRedis()) ? 'stopped' : 'not running');
      return 0;
    }
    case 'status': {
      const { layout, pid } = redisStatus();
      say(pid === undefined ? `not running (REDIS_PORT ${redisPort()})` : `running, pid ${pid}, port ${redisPort()}`);
      say(`data ${layout.dataDir}, log ${layout.logFile}`);
      return 0;
    }
    default:
      console.error('usage: node scripts/redis.ts start [--clean] | stop | status');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error & { code?: string }) => {
      console.error(`redis: ${err.code ? `[${err.code}] ` : ''}${err.message}`);
      process.exit(1);
    },
  );
}
