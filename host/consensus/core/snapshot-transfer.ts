import type { Ballot } from "./ballot.js";
import { crc32 } from "./crc32.js";
import type { Snapshot } from "./entry.js";
import { invariant } from "./errors.js";
import type { InstallSnapshotMessage } from "./messages.js";

/** The fields of one chunk that depend only on the snapshot and the offset. */
export type SnapshotChunk = Pick<
  InstallSnapshotMessage,
  "index" | "snapshotBallot" | "totalBytes" | "checksum" | "offset" | "data" | "last"
>;

const checksums = new WeakMap<Snapshot, number>();

/** The CRC-32 of a snapshot's bytes, computed once per snapshot object. */
export function snapshotChecksum(snapshot: Snapshot): number {
  let checksum = checksums.get(snapshot);
  if (checksum === undefined) {
    checksum = crc32(snapshot.data);
    checksums.set(snapshot, checksum);
  }
  return checksum;
}

/** The chunk of `snapshot` starting at `offset`, at most `chunkBytes` long (a view, no copy). */
export function snapshotChunk(
  snapshot: Snapshot,
  offset: number,
  chunkBytes: number,
): SnapshotChunk {
  const total = snapshot.data.byteLength;
  invariant(offset >= 0 && offset <= total, `chunk offset ${offset} outside 0..${total}`);
  const end = Math.min(total, offset + chunkBytes);
  return {
    index: snapshot.index,
    snapshotBallot: snapshot.ballot,
    totalBytes: total,
    checksum: snapshotChecksum(snapshot),
    offset,
    data: snapshot.data.subarray(offset, end),
    last: end === total,
  };
}

/**
 * A leader's snapshot transfer to one follower: the snapshot is pinned for the whole transfer (a
 * newer compaction meanwhile does not mix two snapshots), one chunk is in flight at a time.
 */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Bytes the follower acknowledged holding; the chunk in flight starts here. */
  ackedBytes: number;
  /** Ticks since a chunk was last sent; at `snapshotRetransmitTicks` the chunk is sent again. */
  idleTicks: number;
}

/** What receiving one chunk did to an assembly. */
export type ChunkOutcome = "appended" | "ignored" | "complete" | "corrupt";

/**
 * A follower's reassembly of one snapshot from chunks sent by one replica. Chunks are taken in
 * order only (a duplicate or a chunk past a gap is ignored, and the acknowledgement tells the
 * sender where to continue). Memory is bounded by `totalBytes`, which validation bounds by
 * `maxSnapshotBytes`; a replica keeps at most one assembly.
 */
export class SnapshotAssembly {
  readonly from: number;
  readonly index: number;
  readonly snapshotBallot: Ballot;
  readonly totalBytes: number;
  readonly checksum: number;
  private readonly chunks: Uint8Array[] = [];
  private received = 0;

  constructor(from: number, chunk: SnapshotChunk) {
    this.from = from;
    this.index = chunk.index;
    this.snapshotBallot = chunk.snapshotBallot;
    this.totalBytes = chunk.totalBytes;
    this.checksum = chunk.checksum;
  }

  /** Bytes received in order so far. */
  get receivedBytes(): number {
    return this.received;
  }

  /** Whether `chunk` (from `from`) belongs to the snapshot this assembly collects. */
  matches(from: number, chunk: SnapshotChunk): boolean {
    return (
      from === this.from &&
      chunk.index === this.index &&
      chunk.snapshotBallot === this.snapshotBallot &&
      chunk.totalBytes === this.totalBytes &&
      chunk.checksum === this.checksum
    );
  }

  /** Appends `chunk` if it continues the bytes received; `complete` once all arrived intact. */
  add(chunk: SnapshotChunk): ChunkOutcome {
    if (chunk.offset !== this.received || (chunk.data.byteLength === 0 && !chunk.last)) {
      return "ignored";
    }
    // Copy: the chunk may be a view into a transport buffer that is reused after delivery.
    this.chunks.push(chunk.data.slice());
    this.received += chunk.data.byteLength;
    if (this.received < this.totalBytes) {
      return "appended";
    }
    return crc32(this.bytes()) === this.checksum ? "complete" : "corrupt";
  }

  /** The reassembled snapshot; only meaningful after `add` returned `complete`. */
  snapshot(): Snapshot {
    invariant(this.received === this.totalBytes, "snapshot assembly is incomplete");
    return { index: this.index, ballot: this.snapshotBallot, data: this.bytes() };
  }

  private bytes(): Uint8Array {
    if (this.chunks.length === 1 && this.chunks[0] !== undefined) {
      return this.chunks[0];
    }
    const data = new Uint8Array(this.received);
    let offset = 0;
    for (const chunk of this.chunks) {
      data.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.chunks.splice(0, this.chunks.length, data);
    return data;
  }
}
