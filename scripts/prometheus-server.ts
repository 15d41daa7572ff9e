/**
 * A real Prometheus server for the operations test (test/ops/): the binary from Debian's
 * `prometheus` package (`.ci/run` installs it on a fresh machine; PROMETHEUS_BIN overrides the
 * path), run with a configuration and a TSDB in a temporary directory on a free port of 127.0.0.1,
 * and stopped with the test. Queries go through its HTTP API, as Grafana's do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Errors of this module carry a `code`. */
export class PrometheusServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PrometheusServerError';
    this.code = code;
  }
}

/** The prometheus binary: PROMETHEUS_BIN, else `prometheus` on PATH; throws NOT_INSTALLED with the fix. */
export function prometheusBinary(name: 'prometheus' | 'promtool' = 'prometheus'): string {
  const bin = name === 'prometheus' ? (process.env.PROMETHEUS_BIN ?? 'prometheus') : (process.env.PROMTOOL_BIN ?? 'promtool');
  if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new PrometheusServerError('NOT_INSTALLED', `${bin} not found: apt-get install -y prometheus (as root), or set ${name === 'prometheus' ? 'PROMETHEUS_BIN' : 'PROMTOOL_BIN'}`);
  }
  return bin;
}

/** A free TCP port on 127.0.0.1 (free when asked; Prometheus binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PrometheusOptions {
  /** Targets of the `tributary` job, as host:port. */
  readonly targets: readonly string[];
  /** Rule files to load (absolute paths). */
  readonly ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval (default 1s). */
  readonly interval?: string;
}

export interface QueryResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export class PrometheusServer {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  #output = '';

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
    child.stderr?.on('data', (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-4000)));
  }

  /** Starts Prometheus and resolves once it is ready (GET /-/ready answers 200). */
  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const bin = prometheusBinary();
    const dir = mkdtempSync(join(tmpdir(), 'tributary-prometheus-'));
    const interval = options.interval ?? '1s';
    const config = [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
      'scrape_configs:',
      '  - job_name: tributary',
      '    static_configs:',
      `      - targets: ${JSON.stringify(options.targets)}`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const child = spawn(bin, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new PrometheusServerError('START_FAILED', `prometheus exited with ${child.exitCode}: ${server.#output}`);
      try {
        if ((await fetch(`${server.url}/-/ready`)).status === 200) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new PrometheusServerError('START_FAILED', `prometheus not ready after 30 s: ${server.#output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** An instant query (`/api/v1/query`); throws QUERY_FAILED with Prometheus's error for a bad expression. */
  async query(expr: string): Promise<QueryResult[]> {
    const res = await fetch(`${this.url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: QueryResult[] | [number, string] } };
    if (body.status !== 'success') throw new PrometheusServerError('QUERY_FAILED', `${expr}: ${body.error}`);
    // A scalar (time(), a number) is one value, not a list of series.
    return body.data!.resultType === 'scalar' ? [{ metric: {}, value: body.data!.result as [number, string] }] : (body.data!.result as QueryResult[]);
  }

  /** GET an API path, the `data` of its answer. */
  async api<T>(path: string): Promise<T> {
    const body = (await (await fetch(`${this.url}${path}`)).json()) as { status: string; error?: string; data: T };
    if (body.status !== 'success') throw new PrometheusServerError('QUERY_FAILED', `${path}: ${body.error}`);
    return body.data;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.#child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
