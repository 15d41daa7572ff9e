/**
 * The serving read over HTTP: `GET /features/{definition}/{entity}[?at=ms]` answers an entity's
 * feature values as of now (or `at`, event time), with the time of its newest event.
 */
import type { HttpRoute } from '../engine/index.ts';
import { readFeatures, type FeatureDefinition, type FeatureSpec, type FeatureState } from './definition.ts';

/** What the routes read: a StreamsApp (`app.get` routes a key to the thread or process that owns it). */
export interface FeatureStoreReader {
  get<V>(store: string, key: string): Promise<V | undefined>;
}

/**
 * HTTP routes serving the definitions' values, for StreamsApp's `http.routes`.
 *
 * @example
 * new StreamsApp({ module }, { applicationId: 'shop', log, http: { port: 8080, routes: (app) => featureRoutes(app, [userOrders]) } });
 * // curl localhost:8080/features/user-orders/u1 -> { "definition": "user-orders", "entity": "u1", "at": ..., "newestEventAt": ..., "values": {...} }
 */
export function featureRoutes(
  app: FeatureStoreReader,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  definitions: readonly FeatureDefinition<any, any, Record<string, FeatureSpec<any>>>[],
  options: { now?: () => number } = {},
): HttpRoute[] {
  const now = options.now ?? Date.now;
  const byName = new Map(definitions.map((d) => [d.name, d]));
  return [
    {
      method: 'GET',
      name: '/features/{definition}/{entity}',
      path: /^\/features\/([^/]+)\/([^/]+)$/,
      handle: async (m, request) => {
        const name = decodeURIComponent(m[1]!);
        const entity = decodeURIComponent(m[2]!);
        const def = byName.get(name);
        if (def === undefined) return { status: 404, body: { error: `no feature definition named ${JSON.stringify(name)}`, definitions: [...byName.keys()] } };
        const atParam = request.url.searchParams.get('at');
        const at = atParam === null ? now() : Number(atParam);
        if (!Number.isSafeInteger(at) || at < 0) return { status: 400, body: { error: 'at must be an integer >= 0 (ms since the epoch)' } };
        const state = await app.get<FeatureState>(def.name, entity);
        return {
          status: 200,
          body: { definition: name, entity, at, newestEventAt: state === undefined ? null : state.newest, values: readFeatures(def, state, at) },
        };
      },
    },
  ];
}
