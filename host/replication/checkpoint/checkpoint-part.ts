import { createHash, hash as oneShotHash } from "node:crypto";
import type { ApplyContext } from "../../consensus/statemachine.js";
import { ByteReader, ByteWriter } from "../bytes.js";
import { ReplicationError } from "../errors.js";
import { CHECKPOINT_LIMITS } from "../limits.js";
import { PART_TAGS, type StatePart } from "../part.js";
import {
  decodeCheckpointBody,
  encodeCheckpointCommand,
  encodeCheckpointResult,
  HASH_BYTES,
} from "./checkpoint-commands.js";
import { DivergenceError } from "./divergence-error.js";

/** What health and metrics show about this replica's running hash. */
export interface CheckpointStatus {
  /** The slot of the last command hashed (0 before any). */
  readonly hashedIndex: number;
  /** The running hash after it, hex. */
  readonly hash: string;
  /** Checkpoints compared and matched since this process started. */
  readonly verified: number;
  /** Checkpoints naming a slot older than the window of recent hashes (nothing compared). */
  readonly unverifiable: number;
  /** Set once a checkpoint did not match: the replica halted. */
  readonly diverged: DivergenceError | undefined;
}

const GENESIS = new Uint8Array(HASH_BYTES);
/** Slot (u64), command length and outcome length (u32 each), little-endian. */
const HEADER_BYTES = 16;
/** Largest input hashed from the reusable buffer; larger ones are streamed. */
const MAX_SCRATCH_BYTES = 64 * 1024;
const STATE_VERSION = 1;

/**
 * The divergence detector (part tag 4). Every replica chains a running hash over what it
 * applied: H = sha256(H || slot || command || outcome) for every command of every part, in log
 * order (the root calls `observeApplied`); outcomes carry session transitions and manifest
 * changes, so equal hashes mean equal histories. The leader periodically proposes a checkpoint
 * carrying its (slot, H) (`checkpointCommand`, `CheckpointScheduler`); every replica compares it,
 * at apply, with its own hash at that slot, kept in a bounded window of recent hashes. A mismatch
 * throws a {@link DivergenceError}: the driver halts this replica, never letting it serve a
 * history that differs from the leader's. The hash and the window are in the snapshot, so a
 * replica restored from a peer's snapshot keeps comparing.
 *
 * Known limit: the leader's hash is the reference. If the LEADER is the replica that differs, the
 * followers halt (and the cluster stops making progress rather than serve a split history).
 */
export class CheckpointPart implements StatePart {
  readonly tag = PART_TAGS.checkpoint;
  readonly name = "checkpoint";
  private readonly capacity: number;
  private hash: Uint8Array = GENESIS;
  private hashedIndex = 0;
  /** The slot of the newest hash dropped from the window (0: none, the window reaches genesis). */
  private floorIndex = 0;
  /** The window: slots (ascending) and the hash after each, oldest first. */
  private slots: number[] = [];
  private hashes: Uint8Array[] = [];
  private verified = 0;
  private unverifiable = 0;
  private diverged: DivergenceError | undefined;
  private readonly listeners = new Set<(error: DivergenceError) => void>();
  private scratch = new Uint8Array(1024);
  private scratchView = new DataView(this.scratch.buffer);

  /** `ringEntries` must be the same on every replica (it decides `verified`); tests lower it. */
  constructor(options: { readonly ringEntries?: number } = {}) {
    this.capacity = Math.max(1, options.ringEntries ?? CHECKPOINT_LIMITS.ringEntries);
  }

  observeApplied(command: Uint8Array, outcome: Uint8Array, context: ApplyContext): void {
    const size = HASH_BYTES + HEADER_BYTES + command.length + outcome.length;
    let digest: Uint8Array;
    if (size <= MAX_SCRATCH_BYTES) {
      // One contiguous buffer and a one-shot hash: about half the cost of a Hash object per
      // command, which matters on the session-step hot path.
      if (this.scratch.length < size) {
        this.scratch = new Uint8Array(Math.min(MAX_SCRATCH_BYTES, 2 ** Math.ceil(Math.log2(size))));
        this.scratchView = new DataView(this.scratch.buffer);
      }
      this.scratch.set(this.hash, 0);
      this.writeHeader(this.scratchView, HASH_BYTES, context.index, command.length, outcome.length);
      this.scratch.set(command, HASH_BYTES + HEADER_BYTES);
      this.scratch.set(outcome, HASH_BYTES + HEADER_BYTES + command.length);
      digest = oneShotHash("sha256", this.scratch.subarray(0, size), "buffer");
    } else {
      // A large command (a module install): stream it rather than copy it. Same bytes hashed.
      const header = new Uint8Array(HEADER_BYTES);
      this.writeHeader(
        new DataView(header.buffer),
        0,
        context.index,
        command.length,
        outcome.length,
      );
      digest = createHash("sha256")
        .update(this.hash)
        .update(header)
        .update(command)
        .update(outcome)
        .digest();
    }
    this.hash = new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
    this.hashedIndex = context.index;
    this.remember(context.index, this.hash);
  }

  private writeHeader(
    view: DataView,
    at: number,
    index: number,
    commandBytes: number,
    outcomeBytes: number,
  ): void {
    view.setBigUint64(at, BigInt(index), true);
    view.setUint32(at + 8, commandBytes, true);
    view.setUint32(at + 12, outcomeBytes, true);
  }

  private remember(index: number, hash: Uint8Array): void {
    const last = this.slots.length - 1;
    if (last >= 0 && this.slots[last] === index) {
      this.hashes[last] = hash;
      return;
    }
    this.slots.push(index);
    this.hashes.push(hash);
    if (this.slots.length > this.capacity) {
      // Amortised: drop a batch at once rather than shifting the arrays on every command.
      const drop = Math.max(1, Math.floor(this.capacity / 4));
      this.floorIndex = this.slots[drop - 1] ?? this.floorIndex;
      this.slots = this.slots.slice(drop);
      this.hashes = this.hashes.slice(drop);
    }
  }

  /** The hash after every command of the slots up to `slot`; undefined when out of the window. */
  private hashAt(slot: number): Uint8Array | undefined {
    if (slot >= this.hashedIndex) return this.hash;
    const first = this.slots[0];
    if (first === undefined || slot < first) return this.floorIndex === 0 ? GENESIS : undefined;
    let low = 0;
    let high = this.slots.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.slots[mid] ?? 0) <= slot) low = mid;
      else high = mid - 1;
    }
    return this.hashes[low];
  }

  apply(body: Uint8Array, context: ApplyContext): Uint8Array {
    if (this.diverged !== undefined) throw this.diverged;
    const checkpoint = decodeCheckpointBody(body);
    if (checkpoint.appliedIndex >= context.index) {
      throw new ReplicationError(
        "BadCommand",
        `checkpoint of slot ${checkpoint.appliedIndex} committed at slot ${context.index}`,
      );
    }
    const local = this.hashAt(checkpoint.appliedIndex);
    if (local === undefined) {
      this.unverifiable += 1;
      return encodeCheckpointResult({ verified: false });
    }
    if (!equalBytes(local, checkpoint.hash)) {
      const error = new DivergenceError(
        checkpoint.appliedIndex,
        hex(local),
        hex(checkpoint.hash),
        context.index,
      );
      this.diverged = error;
      for (const listener of this.listeners) listener(error);
      throw error;
    }
    this.verified += 1;
    return encodeCheckpointResult({ verified: true });
  }

  /**
   * The checkpoint command for `slot`: this replica's hash after every command of the slots up
   * to it. Pass a slot this replica has applied COMPLETELY: the consensus engine's
   * `lastAppliedIndex() - 1` is always one (the last slot may still be applying, command by
   * command, when an apply is asynchronous). Undefined for slot 0 or a slot out of the window.
   */
  checkpointCommand(slot: number): Uint8Array | undefined {
    if (slot < 1) return undefined;
    const hash = this.hashAt(slot);
    if (hash === undefined) return undefined;
    return encodeCheckpointCommand({ appliedIndex: slot, hash });
  }

  status(): CheckpointStatus {
    return {
      hashedIndex: this.hashedIndex,
      hash: hex(this.hash),
      verified: this.verified,
      unverifiable: this.unverifiable,
      diverged: this.diverged,
    };
  }

  /** Calls `listener` once when a checkpoint finds this replica diverged (for logs and metrics). */
  onDiverged(listener: (error: DivergenceError) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): Uint8Array {
    const writer = new ByteWriter()
      .u8(STATE_VERSION)
      .u64(this.hashedIndex)
      .raw(this.hash)
      .u64(this.floorIndex)
      .u32(this.slots.length);
    this.slots.forEach((slot, i) => {
      writer.u64(slot).raw(this.hashes[i] ?? GENESIS);
    });
    return writer.finish();
  }

  restore(bytes: Uint8Array): void {
    const reader = new ByteReader(bytes, "BadSnapshot", "checkpoint snapshot");
    const version = reader.u8();
    if (version !== STATE_VERSION) reader.fail(`unsupported version ${version}`);
    const hashedIndex = reader.u64();
    const hash = reader.raw(HASH_BYTES);
    let floorIndex = reader.u64();
    const count = reader.u32();
    if (count > Math.max(this.capacity, CHECKPOINT_LIMITS.ringEntries) + 1) {
      reader.fail(`${count} hashes`);
    }
    let slots: number[] = [];
    let hashes: Uint8Array[] = [];
    for (let i = 0; i < count; i += 1) {
      const slot = reader.u64();
      if (slot <= (slots[slots.length - 1] ?? floorIndex) || slot > hashedIndex) {
        reader.fail(`slot ${slot} out of order`);
      }
      slots.push(slot);
      hashes.push(reader.raw(HASH_BYTES));
    }
    reader.end();
    if (slots.length > this.capacity) {
      const drop = slots.length - this.capacity;
      floorIndex = slots[drop - 1] ?? floorIndex;
      slots = slots.slice(drop);
      hashes = hashes.slice(drop);
    }
    this.hashedIndex = hashedIndex;
    this.hash = hash;
    this.floorIndex = floorIndex;
    this.slots = slots;
    this.hashes = hashes;
  }

  reset(): void {
    this.hashedIndex = 0;
    this.hash = GENESIS;
    this.floorIndex = 0;
    this.slots = [];
    this.hashes = [];
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
