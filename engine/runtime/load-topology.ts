import { StreamsError } from '../errors.ts';
import { Topology } from '../topology.ts';

/**
 * Imports the module that defines an application's topology. The export may be a Topology or a
 * function returning one; every thread calls this and builds its own processors from it.
 */
export async function loadTopology(module: string, exportName: string): Promise<Topology> {
  const mod = (await import(module)) as Record<string, unknown>;
  const value = mod[exportName];
  const topology = typeof value === 'function' ? await (value as () => unknown)() : value;
  if (!(topology instanceof Topology)) {
    throw new StreamsError(
      'INVALID_ARGUMENT',
      `module ${module} must export "${exportName}" as a Topology or a function returning one (got ${typeof value})`,
    );
  }
  return topology.validate();
}
