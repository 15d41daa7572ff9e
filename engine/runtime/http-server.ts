/**
 * The HTTP face of a running application (a QueryableApp): interactive queries, health, Prometheus metrics and ingest.
 *
 *   GET  /health                              200 while RUNNING, else 503; JSON state
 *   GET  /stores                              stores, partition counts, host
 *   GET  /stores/{store}/keys/{key}           one row (404 when absent)
 *   GET  /stores/{store}/range?from=&to=&limit=&cursor=
 *                                             a page of rows in key order, every partition
 *   GET  /stores/{store}/windows/{key}?from=&to=
 *   GET  /stores/{store}/sessions/{key}
 *   GET  /metrics                             Prometheus text (prom-client)
 *   POST /topics/{topic}/records              JSON array or NDJSON of { key, value, timestamp? }
 *
 * Keys in paths are strings decoded with the store's key serde. Errors are JSON `{ error, code }`
 * with a 4xx status; the server keeps serving.
 *
 * Access (README, "Security"): loopback only by default. A bearer token, when set, guards every
 * route but /health. Without one, requests must name this machine in Host (no DNS rebinding),
 * cross-site Origins are refused, POST bodies must be JSON (no form posts from web pages), and
 * records are accepted over HTTP only on a loopback address unless `exposeWrites` says otherwise.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Histogram, type Registry } from 'prom-client';
import { StreamsError, describeCause } from '../errors.ts';
import type { Log } from '../log.ts';
import { HttpError, statusCodes } from './http-error.ts';
import type { StoreQuery } from './messages.ts';
import { validateQuery } from './queries.ts';
import type { QueryableApp } from './queryable-app.ts';
import { ingestRecords, ingestSerdes, listTopics, readRecords } from './topic-records.ts';

/** An application route, served before the built-in ones. */
export interface HttpRoute {
  readonly method: 'GET' | 'POST';
  /** The route's label in the request-duration metric (default: the path pattern). */
  readonly name?: string;
  /** Matched against the path (without the query string). */
  readonly path: RegExp;
  handle(
    match: RegExpMatchArray,
    request: { readonly url: URL; body(): Promise<string> },
  ): Promise<{ status: number; body: unknown; contentType?: string }>;
}

/** How the server listens and whom it answers (StreamsApp's `http` option adds the application's routes). */
export interface HttpServerOptions {
  readonly port: number;
  readonly host?: string;
  /** Largest accepted ingest body (default 16 MiB); larger requests get 413. */
  readonly maxBodyBytes?: number;
  /** Ingest requests in flight before new ones get 429 (default 64). */
  readonly maxInFlightIngest?: number;
  /**
   * Bearer token every request but `GET /health` must carry (`Authorization: Bearer <token>`).
   * Default: the TRIBUTARY_HTTP_TOKEN environment variable, else none. Processes of one
   * application that share work must share the token (they forward queries to each other).
   */
  readonly token?: string;
  /**
   * Host names clients may use besides IP addresses, `localhost` and this machine's name (checked
   * when there is no token, against DNS rebinding). `'*'` allows any.
   */
  readonly allowedHosts?: readonly string[];
  /** Origins (`https://example.com`) whose web pages may call this server, besides its own. */
  readonly allowedOrigins?: readonly string[];
  /**
   * Accept records (`POST /topics/{topic}/records`) without a token on an address other than
   * loopback (default false: a server exposed to the network without a token is read-only).
   */
  readonly exposeWrites?: boolean;
  /** Time to receive a whole request, headers and body (default 10 s); slower clients get 408. */
  readonly requestTimeoutMs?: number;
}

/** Media types a POST body may have: JSON, or NDJSON for records. */
const jsonTypes = new Set(['application/json', 'application/x-ndjson', 'application/ndjson']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Query parameters decoded strictly: invalid percent-encoding or UTF-8 is an error, not U+FFFD. */
function strictParams(search: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of search.replace(/^\?/, '').split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const decode = (text: string) => {
      try {
        return decodeURIComponent(text.replaceAll('+', ' '));
      } catch {
        throw new HttpError(400, `query parameter ${JSON.stringify(pair)} is not valid percent-encoded UTF-8`);
      }
    };
    const name = decode(at === -1 ? pair : pair.slice(0, at));
    if (!params.has(name)) params.set(name, decode(at === -1 ? '' : pair.slice(at + 1)));
  }
  return params;
}

/** JSON with byte arrays as base64 strings. */
function toJson(body: unknown): string {
  return JSON.stringify(body, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value));
}

export class AppHttpServer {
  readonly #app: QueryableApp;
  readonly #log: Log;
  readonly #options: HttpServerOptions;
  readonly #server: Server;
  readonly #registry: Registry;
  readonly #routes: readonly HttpRoute[];
  readonly #token: Buffer | undefined;
  readonly #allowedHosts: Set<string>;
  #writesOpen = false;
  #inFlightIngest = 0;
  /** When each request arrived (for the Server-Timing header and the duration histogram). */
  readonly #arrived = new WeakMap<ServerResponse, { at: number; route: string }>();
  readonly #durations: Histogram<'route' | 'status'>;

  /**
   * `registry` holds the application's metrics (served at /metrics, with the request durations
   * added here); `routes` are the application's own (e.g. feature serving), tried before the
   * built-in ones.
   */
  constructor(app: QueryableApp, log: Log, options: HttpServerOptions, registry: Registry, routes: readonly HttpRoute[] = []) {
    this.#app = app;
    this.#registry = registry;
    this.#log = log;
    this.#options = options;
    this.#routes = routes;
    const token = options.token ?? process.env['TRIBUTARY_HTTP_TOKEN'];
    this.#token = token === undefined || token === '' ? undefined : digest(token);
    this.#allowedHosts = new Set([hostname(), options.host ?? '', ...(options.allowedHosts ?? [])].map((h) => h.toLowerCase()).filter((h) => h !== ''));
    this.#durations = new Histogram({
      name: 'tributary_http_request_duration_seconds',
      help: 'Time from a request\'s arrival to its response, per route and status',
      labelNames: ['route', 'status'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.#registry],
    });
    const requestTimeout = options.requestTimeoutMs ?? 10_000;
    // Node answers 408 and closes a connection whose request (headers and body) takes longer than
    // requestTimeout, checked every connectionsCheckingInterval: slow-body clients cannot hold the
    // ingest slots.
    this.#server = createServer(
      { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1000, requestTimeout) },
      (req, res) => {
        this.#arrived.set(res, { at: performance.now(), route: 'unmatched' });
        this.#handle(req, res).catch((error: unknown) => {
          if (error instanceof HttpError) {
            if (error.status === 401) res.setHeader('www-authenticate', 'Bearer');
            return this.#send(res, error.status, { error: error.message, code: error.code });
          }
          // A store that is not queryable yet (restoring, rebalancing): retry later.
          if (error instanceof StreamsError && error.canRetry) return this.#send(res, 503, { error: describeCause(error), code: error.code });
          console.warn(`[tributary] HTTP ${req.method} ${req.url}: ${describeCause(error)}`);
          this.#send(res, 500, { error: 'internal error; the server log has the details', code: 'INTERNAL' });
        });
      },
    );
  }

  async listen(): Promise<AddressInfo> {
    const host = this.#options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (error: NodeJS.ErrnoException) => {
        // The user picked the address: say which one, and what moves it.
        if (error.code === 'EADDRINUSE') {
          reject(new StreamsError('ADDRESS_IN_USE', `cannot serve HTTP on ${host}:${this.#options.port}: the port is in use; choose another http.port (0 picks a free one)`, { cause: error }));
        } else if (error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL') {
          reject(new StreamsError('INVALID_ARGUMENT', `cannot serve HTTP on ${host}:${this.#options.port}: ${error.code === 'EACCES' ? 'permission denied' : 'no such address on this machine'}`, { cause: error }));
        } else reject(error);
      });
      this.#server.listen(this.#options.port, host, () => resolve());
    });
    const address = this.#server.address() as AddressInfo;
    this.#writesOpen = this.#token !== undefined || isLoopback(address.address) || this.#options.exposeWrites === true;
    return address;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #send(res: ServerResponse, status: number, body: unknown, contentType: string = 'application/json'): void {
    if (res.headersSent) return;
    // Every error body names a code (query results from the stream threads carry only { error }).
    if (status >= 400 && typeof body === 'object' && body !== null && 'error' in body && !('code' in body)) body = { ...body, code: statusCodes[status] ?? 'ERROR' };
    const text = contentType === 'application/json' ? toJson(body) : String(body);
    const arrived = this.#arrived.get(res);
    const ms = arrived === undefined ? 0 : performance.now() - arrived.at;
    // Server-Timing (W3C): lets a client split its latency into server time and the rest.
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'server-timing': `app;dur=${ms.toFixed(3)}` });
    res.end(text);
    if (arrived !== undefined) this.#durations.observe({ route: arrived.route, status: String(status) }, ms / 1000);
  }

  #label(res: ServerResponse, route: string): void {
    const arrived = this.#arrived.get(res);
    if (arrived !== undefined) arrived.route = route;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        throw new HttpError(400, `malformed path segment ${JSON.stringify(p)}`);
      }
    });
    const method = req.method ?? 'GET';
    this.#checkAccess(req, method, parts);
    if (parts[0] === 'health' || parts[0] === 'metrics' || parts[0] === 'stores' || parts[0] === 'topics') this.#label(res, `/${parts[0]}`);
    for (const route of this.#routes) {
      const match = route.method === method ? url.pathname.match(route.path) : null;
      if (match === null) continue;
      this.#label(res, route.name ?? route.path.source);
      const result = await route.handle(match, { url, body: () => this.#body(req, res) });
      return this.#send(res, result.status, result.body, result.contentType);
    }
    if (method === 'GET' && parts.length === 1 && parts[0] === 'health') {
      const state = this.#app.state;
      return this.#send(res, state === 'RUNNING' ? 200 : 503, { state, applicationId: this.#app.applicationId });
    }
    if (method === 'GET' && parts.length === 1 && parts[0] === 'metrics') {
      // Collected on scrape: the metrics ask the threads now (app-metrics.ts).
      return this.#send(res, 200, await this.#registry.metrics(), this.#registry.contentType);
    }
    if (method === 'GET' && parts[0] === 'stores') return this.#stores(res, parts.slice(1), strictParams(url.search));
    if (method === 'POST' && parts.length === 2 && parts[0] === 'internal' && parts[1] === 'query') {
      // A query forwarded by another process of the application: answered here or not at all.
      let request: { store?: unknown; partition?: unknown; query?: unknown };
      const body = await this.#body(req, res);
      try {
        request = JSON.parse(body) as typeof request;
      } catch {
        throw new HttpError(400, 'body must be JSON: { "store", "partition", "query" }');
      }
      if (typeof request.store !== 'string' || typeof request.partition !== 'number' || typeof request.query !== 'object' || request.query === null) {
        throw new HttpError(400, 'body must be JSON: { "store", "partition", "query" }');
      }
      if (!Number.isSafeInteger(request.partition) || request.partition < 0) throw new HttpError(400, '"partition" must be an integer >= 0');
      const checked = validateQuery(request.query);
      if (!checked.ok) throw new HttpError(400, checked.error);
      const result = await this.#app.queryLocal(request.store, request.partition, checked.query, (request as { stale?: unknown }).stale === true);
      return this.#send(res, result.status, result.body);
    }
    if (method === 'GET' && parts.length === 1 && parts[0] === 'topics') return this.#send(res, 200, await listTopics(this.#log));
    if (parts[0] === 'topics' && parts.length === 3 && parts[2] === 'records') {
      if (method === 'GET') return this.#send(res, 200, await readRecords(this.#log, this.#app.topology, parts[1]!, strictParams(url.search)));
      if (method !== 'POST') throw new HttpError(405, 'use POST to add records, GET to read them');
      return this.#ingest(req, res, parts[1]!);
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  }

  /**
   * Who may call: the token when there is one (all but /health); else a Host naming this machine.
   * Always: no cross-site Origin, JSON bodies for POST, records only where writes are open.
   */
  #checkAccess(req: IncomingMessage, method: string, parts: readonly string[]): void {
    const health = method === 'GET' && parts.length === 1 && parts[0] === 'health';
    if (this.#token !== undefined) {
      const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!health && (given === undefined || !timingSafeEqual(digest(given.trim()), this.#token))) {
        throw new HttpError(401, 'this server needs "Authorization: Bearer <token>" (the token the application was started with)');
      }
    } else if (!this.#hostAllowed(req.headers.host)) {
      throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not a name of this server; add it to http.allowedHosts`, 'HOST_NOT_ALLOWED');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#originAllowed(origin, req.headers.host)) {
      throw new HttpError(403, `requests from web pages at ${origin} are not allowed; add the origin to http.allowedOrigins`, 'ORIGIN_NOT_ALLOWED');
    }
    if (method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!jsonTypes.has(type)) throw new HttpError(415, `POST bodies must be JSON: send content-type application/json (or application/x-ndjson for records), got ${JSON.stringify(type)}`);
      if (parts[0] === 'topics' && !this.#writesOpen) {
        throw new HttpError(
          403,
          'this server listens beyond loopback without a token, so it does not take records: set http.token (or TRIBUTARY_HTTP_TOKEN), or http.exposeWrites: true',
          'WRITES_NOT_EXPOSED',
        );
      }
    }
  }

  #hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return false;
    let name: string;
    try {
      name = new URL(`http://${host}`).hostname.toLowerCase().replace(/\.$/, '');
    } catch {
      return false;
    }
    // An address cannot be rebound to another machine; only names can.
    if (isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0) return true;
    return name === 'localhost' || name.endsWith('.localhost') || this.#allowedHosts.has(name) || this.#allowedHosts.has('*');
  }

  #originAllowed(origin: string, host: string | undefined): boolean {
    if (this.#options.allowedOrigins?.includes(origin)) return true;
    try {
      const url = new URL(origin);
      return url.protocol === 'http:' && url.host === host; // the server's own pages
    } catch {
      return false; // includes "null" (sandboxed frames, file: pages)
    }
  }

  async #stores(res: ServerResponse, parts: string[], query: Map<string, string>): Promise<void> {
    if (parts.length === 0) {
      return this.#send(
        res,
        200,
        this.#app.stores().map((s) => ({ ...s, hosts: this.#app.storeHosts(s.name) })),
      );
    }
    const [store, what, key] = parts;
    const info = this.#app.stores().find((s) => s.name === store);
    if (info === undefined) throw new HttpError(404, `no store named "${store}"`);
    const number = (name: string, fallback: number) => {
      const raw = query.get(name);
      if (raw === undefined || raw === '') return fallback;
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new HttpError(400, `query parameter ${name} must be a number of milliseconds, got ${JSON.stringify(raw)}`);
      return n;
    };
    let q: StoreQuery;
    if (what === 'keys' && key !== undefined && parts.length === 3) q = { type: 'key', key };
    else if (what === 'windows' && key !== undefined && parts.length === 3) {
      q = { type: 'windows', key, from: number('from', 0), to: number('to', Number.MAX_SAFE_INTEGER) };
    } else if (what === 'sessions' && key !== undefined && parts.length === 3) q = { type: 'sessions', key };
    else if (what === 'range' && parts.length === 2) {
      const from = query.get('from');
      const to = query.get('to');
      const cursor = query.get('cursor');
      if (cursor !== undefined && !/^(?:[0-9a-f]{2})+$/.test(cursor)) throw new HttpError(400, 'cursor must be the "next" of an earlier page');
      const limit = query.get('limit') ?? '1000';
      if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 10_000) throw new HttpError(400, `limit must be an integer from 1 to 10000, got ${JSON.stringify(limit)}`);
      q = { type: 'range', ...(from !== undefined && { from }), ...(to !== undefined && { to }), ...(cursor !== undefined && { after: cursor }), limit: Number(limit) + 1 };
    } else {
      throw new HttpError(404, 'use /stores/{store}/keys/{key}, /range, /windows/{key} or /sessions/{key}');
    }
    if (this.#app.state !== 'RUNNING') throw new HttpError(503, `store "${store}" is not queryable yet (state ${this.#app.state})`);
    if (q.type === 'range') {
      // Each partition gives its first limit + 1 rows past the cursor; merged in key order, the
      // first `limit` are the page and a row beyond them means there is a next page.
      const results = await Promise.all(Array.from({ length: info.partitions }, (_, p) => this.#app.query(store!, p, q)));
      const bad = results.find((r) => r.status !== 200);
      if (bad !== undefined) return this.#send(res, bad.status, bad.body);
      const limit = q.limit! - 1;
      const rows = results.flatMap((r) => r.body as { key: unknown; value: unknown; cursor: string }[]).sort((a, b) => (a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : 0));
      const page = rows.slice(0, limit);
      return this.#send(res, 200, { rows: page.map((r) => ({ key: r.key, value: r.value })), next: rows.length > limit ? page.at(-1)!.cursor : null });
    }
    // ?stale=true: a standby copy may answer when the active task cannot (Kafka Streams' enableStaleStores).
    const result = await this.#app.queryKey(store!, q, { stale: query.get('stale') === 'true' });
    this.#send(res, result.status, result.body);
  }

  async #ingest(req: IncomingMessage, res: ServerResponse, topic: string): Promise<void> {
    const serdes = ingestSerdes(this.#app.topology, topic);
    const limit = this.#options.maxInFlightIngest ?? 64;
    if (this.#inFlightIngest >= limit) {
      res.setHeader('retry-after', '1');
      throw new HttpError(429, `too many ingest requests in flight (${limit}); retry shortly`);
    }
    this.#inFlightIngest++;
    try {
      const accepted = await ingestRecords(this.#log, serdes, topic, await this.#body(req, res));
      this.#send(res, 200, { accepted });
    } finally {
      this.#inFlightIngest--;
    }
  }

  /**
   * The request body as strict UTF-8. Over the limit: 413 at once, the rest of the body read and
   * dropped (so the client sees the answer rather than a reset), up to the request timeout.
   */
  #body(req: IncomingMessage, res: ServerResponse): Promise<string> {
    const max = this.#options.maxBodyBytes ?? 16 * 1024 * 1024;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        if (over) return;
        size += chunk.byteLength;
        if (size > max) {
          over = true;
          chunks.length = 0;
          res.setHeader('connection', 'close');
          reject(new HttpError(413, `request body over ${max} bytes; send smaller batches`));
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (over) return;
        try {
          resolve(strictUtf8.decode(Buffer.concat(chunks)));
        } catch {
          reject(new HttpError(400, 'request body is not valid UTF-8'));
        }
      });
      // A client that goes away (or the request timeout closing it) ends the wait.
      const gone = () => reject(new HttpError(408, 'the request body did not arrive (connection closed or request timeout)'));
      req.on('close', () => {
        if (!req.complete) gone();
      });
      req.on('error', gone);
    });
  }
}
