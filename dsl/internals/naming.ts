import { TopologyError } from '../../engine/index.ts';

/** FNV-1a, 32 bits, as 8 hex digits: short, stable names for unnamed operators. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

const NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Names operators. An unnamed operator is named after its kind and a hash of its parents' names
 * and its rank among same-kind siblings, so adding an operator elsewhere in the program never
 * renames it (Kafka Streams' global counter does; that breaks state and internal topics on upgrade).
 */
export class Naming {
  readonly #ordinals = new Map<string, number>();

  name(prefix: string, parents: readonly string[], explicit: string | undefined): string {
    if (explicit !== undefined) {
      if (typeof explicit !== 'string' || !NAME.test(explicit)) {
        throw new TopologyError('INVALID_ARGUMENT', `a name must be letters, digits, ".", "_" or "-": ${JSON.stringify(explicit)}`, String(explicit));
      }
      return explicit;
    }
    const base = `${parents.join('+')}|${prefix}`;
    const ordinal = this.#ordinals.get(base) ?? 0;
    this.#ordinals.set(base, ordinal + 1);
    return `${prefix}-${fnv1a(`${base}#${ordinal}`)}`;
  }
}
