import type { ApplyContext } from "../../consensus/statemachine.js";
import { ByteReader, ByteWriter, utf8Length } from "../bytes.js";
import { ReplicationError } from "../errors.js";
import { KV_LIMITS } from "../limits.js";
import { PART_TAGS, type StatePart } from "../part.js";
import { decodeKvBody, encodeKvResult, type KvCommand, type KvResult } from "./kv-commands.js";

interface KvEntry {
  readonly value: Uint8Array;
  readonly version: number;
}

const EMPTY = new Uint8Array();

/**
 * The cluster's key-value store: the first part of the console state machine. Every successful
 * write takes the next revision (a counter in the replicated state, so the same on every replica)
 * as the key's version; compare-and-set compares versions, which cannot suffer ABA. Bounded by
 * `KV_LIMITS`: a write that would exceed the key count or total bytes is rejected.
 */
export class KvStore implements StatePart {
  readonly tag = PART_TAGS.kv;
  readonly name = "kv";
  private entries = new Map<string, KvEntry>();
  private revision = 0;
  private totalBytes = 0;

  apply(body: Uint8Array, _context: ApplyContext): Uint8Array {
    return encodeKvResult(this.execute(decodeKvBody(body)));
  }

  /** Applies one decoded command (the unit tests' entry point). */
  execute(command: KvCommand): KvResult {
    const current = this.entries.get(command.key);
    if (command.op === "get") {
      return {
        op: "get",
        found: current !== undefined,
        version: current?.version ?? 0,
        value: current?.value ?? EMPTY,
      };
    }
    if (command.op === "cas" && (current?.version ?? 0) !== command.expectedVersion) {
      return {
        op: "cas",
        succeeded: false,
        version: current?.version ?? 0,
        value: current?.value ?? EMPTY,
      };
    }
    const version = this.write(command.key, command.value, current);
    return command.op === "put"
      ? { op: "put", version }
      : { op: "cas", succeeded: true, version, value: EMPTY };
  }

  private write(key: string, value: Uint8Array, current: KvEntry | undefined): number {
    const keyBytes = utf8Length(key);
    const before = current === undefined ? 0 : keyBytes + current.value.length;
    const total = this.totalBytes - before + keyBytes + value.length;
    if (current === undefined && this.entries.size >= KV_LIMITS.maxKeys) {
      throw new ReplicationError("LimitExceeded", `the store holds ${KV_LIMITS.maxKeys} keys`);
    }
    if (total > KV_LIMITS.maxTotalBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `the store would hold ${total} bytes; at most ${KV_LIMITS.maxTotalBytes} are allowed`,
      );
    }
    this.revision += 1;
    this.entries.set(key, { value: value.slice(), version: this.revision });
    this.totalBytes = total;
    return this.revision;
  }

  /** Number of keys held. */
  size(): number {
    return this.entries.size;
  }

  /** Revision, then the entries sorted by key (canonical bytes for equal states). */
  snapshot(): Uint8Array {
    const writer = new ByteWriter().u64(this.revision).u32(this.entries.size);
    const keys = [...this.entries.keys()].sort();
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry === undefined) continue;
      writer.string16(key).u64(entry.version).bytes32(entry.value);
    }
    return writer.finish();
  }

  restore(bytes: Uint8Array): void {
    const reader = new ByteReader(bytes, "BadSnapshot", "kv snapshot");
    const revision = reader.u64();
    const count = reader.u32();
    if (count > KV_LIMITS.maxKeys) reader.fail(`${count} keys`);
    const entries = new Map<string, KvEntry>();
    let totalBytes = 0;
    for (let i = 0; i < count; i += 1) {
      const key = reader.string16(KV_LIMITS.maxKeyBytes);
      const version = reader.u64();
      const value = reader.bytes32(KV_LIMITS.maxValueBytes);
      if (version < 1 || version > revision) reader.fail(`version ${version} of ${revision}`);
      if (entries.has(key)) reader.fail("duplicate key");
      entries.set(key, { value, version });
      totalBytes += utf8Length(key) + value.length;
    }
    reader.end();
    this.entries = entries;
    this.revision = revision;
    this.totalBytes = totalBytes;
  }

  reset(): void {
    this.entries = new Map();
    this.revision = 0;
    this.totalBytes = 0;
  }
}
