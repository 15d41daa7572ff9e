/**
 * Keys as ids: the in-memory and persistent stores key their maps by the serialized key's bytes as
 * a latin1 string (one char per byte, so string order is byte order). Building that string costs a
 * serialize, a Buffer and a latin1 decode per record, and reading a key back the reverse; for the
 * most common key, a string under `Serdes.string()` that is all ASCII, the UTF-8 bytes read as
 * latin1 are the string itself, so the id is the key and the key is the id.
 */
import { Serdes, type Serde } from '../serde.ts';

const stringSerde = Serdes.string();

/** True when every char is below 0x80 (its UTF-8 encoding is one byte per char, equal to the char). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The latin1 string of `key`'s serialized bytes. */
export function idOfKey<K>(serde: Serde<K>, key: K, topic: string): string {
  if (serde === (stringSerde as unknown) && typeof key === 'string' && isAscii(key)) return key;
  const bytes = serde.serialize(key, topic);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The key whose serialized bytes are `id` (latin1), as `serde` deserializes them. */
export function keyOfId<K>(serde: Serde<K>, id: string, topic: string): K {
  if (serde === (stringSerde as unknown) && isAscii(id)) return id as K;
  return serde.deserialize(Buffer.from(id, 'latin1'), topic);
}
