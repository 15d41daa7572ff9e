/**
 * Fetch v17 with the records left as bytes: the client's request encoder, our own response
 * reader. The client's reader decodes every record into objects of BigInts and per-field buffers
 * (half the stream thread's time on a stateless topology, most of it garbage); the fetcher decodes
 * the bytes itself (record-batch.ts, decodeRecordBatches), one object per record it returns.
 */
import { createAPI, fetchV17, readKnownTaggedFields, ResponseError, type Reader } from '@platformatic/kafka';

export interface RawFetchPartition {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  readonly abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null;
  /** The partition's record batches as the broker sent them (possibly ending with a partial batch). */
  readonly records: Buffer | null;
}

export interface RawFetchResponse {
  readonly responses: { topicId: string; partitions: RawFetchPartition[] }[];
}

function parseResponse(_correlationId: number, apiKey: number, apiVersion: number, reader: Reader): RawFetchResponse {
  const errors: [string, [number, null]][] = [];
  reader.readInt32(); // throttle_time_ms
  const errorCode = reader.readInt16();
  if (errorCode !== 0) errors.push(['', [errorCode, null]]);
  reader.readInt32(); // session_id
  const response: RawFetchResponse = {
    responses: reader.readArray((r, i) => ({
      topicId: r.readUUID(),
      partitions: r.readArray(
        (r, j) => {
          const partitionIndex = r.readInt32();
          const errorCode = r.readInt16();
          if (errorCode !== 0) errors.push([`/responses/${i}/partitions/${j}`, [errorCode, null]]);
          const highWatermark = r.readInt64();
          const lastStableOffset = r.readInt64();
          const logStartOffset = r.readInt64();
          const abortedTransactions = r.readNullableArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() }));
          r.readInt32(); // preferred_read_replica
          // COMPACT_RECORDS: length + 1, 0 for null.
          const size = r.readUnsignedVarInt() - 1;
          let records: Buffer | null = null;
          if (size > 0) {
            records = r.buffer.slice(r.position, r.position + size);
            r.skip(size);
          }
          // diverging_epoch, current_leader, snapshot_id: not used by the fetcher (no fetch
          // sessions, no follower fetching); read past them.
          readKnownTaggedFields(r, {});
          return { partitionIndex, errorCode, highWatermark, lastStableOffset, logStartOffset, abortedTransactions, records };
        },
        true,
        false,
      ),
    })),
  };
  readKnownTaggedFields(reader, {});
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response);
  return response;
}

export const rawFetchV17 = createAPI<Parameters<typeof fetchV17.createRequest>, RawFetchResponse>(1, 17, fetchV17.createRequest, parseResponse);
