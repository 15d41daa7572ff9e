import { StreamsError } from '../../engine/index.ts';

/** The first byte of every record in the Confluent wire format. */
export const MAGIC_BYTE = 0;
/** Magic byte plus the 4-byte schema id. */
export const HEADER_SIZE = 5;

/**
 * Frames a payload in the Confluent wire format: magic byte 0, the schema id as a 4-byte
 * big-endian integer, then the payload (Avro binary or JSON text).
 *
 * @example
 * encodeWire(7, Buffer.from('{}')); // <00 00 00 00 07 7b 7d>
 */
export function encodeWire(schemaId: number, payload: Uint8Array): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff) {
    throw new StreamsError('INVALID_ARGUMENT', `a schema id is a non-negative 32-bit integer, got ${schemaId}`);
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.byteLength);
  out[0] = MAGIC_BYTE;
  out.writeUInt32BE(schemaId, 1);
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * Reads the header of a record in the Confluent wire format. Throws DESERIALIZATION_FAILED when the
 * bytes are too short or do not start with magic byte 0 (e.g. plain JSON written without a registry).
 */
export function decodeWire(data: Uint8Array): { schemaId: number; payload: Buffer } {
  if (data.byteLength < HEADER_SIZE) {
    throw new StreamsError('DESERIALIZATION_FAILED', `a Schema Registry record has at least ${HEADER_SIZE} bytes, got ${data.byteLength}`);
  }
  if (data[0] !== MAGIC_BYTE) {
    throw new StreamsError('DESERIALIZATION_FAILED', `unknown magic byte ${data[0]} (expected ${MAGIC_BYTE}): not written by a Schema Registry serializer`);
  }
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { schemaId: view.readUInt32BE(1), payload: view.subarray(HEADER_SIZE) };
}
