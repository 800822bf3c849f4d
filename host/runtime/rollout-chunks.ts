import { InfoOffset } from "./abi.js";
import type { BuildRef, RolloutChunk } from "./engine.js";
import type { ArrayLayout, RecordSizes } from "./exchange-layout.js";

/** Below this many bytes a plain loop beats `TypedArray.set`, whose fixed cost dominates. */
const SMALL_COPY_BYTES = 64;

/**
 * Bytes a rollout chunk stores per row besides the action, state, observation and player rewards:
 * episode and step indices (4 + 4), reward (4), flags and current player (1 each).
 */
const ROW_FIXED_BYTES = 14;

/** Bytes one row of a rollout chunk takes, with the optional columns requested. */
export function rolloutRowBytes(
  sizes: RecordSizes,
  players: number,
  includeObs: boolean,
  includeStates: boolean,
): number {
  return (
    ROW_FIXED_BYTES +
    4 * players +
    sizes.actionBytes +
    (includeObs ? sizes.obsBytes : 0) +
    (includeStates ? sizes.stateBytes : 0)
  );
}

function copyBytes(
  from: Uint8Array,
  fromAt: number,
  to: Uint8Array,
  toAt: number,
  length: number,
): void {
  if (length < SMALL_COPY_BYTES) {
    for (let i = 0; i < length; i++) to[toAt + i] = from[fromAt + i]!;
  } else {
    to.set(from.subarray(fromAt, fromAt + length), toAt);
  }
}

/** Views of a cartridge's memory, rebuilt only when the memory grew (a new buffer). */
interface MemoryViews {
  readonly buffer: ArrayBufferLike;
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u32: Uint32Array;
}

function viewsOf(memory: Uint8Array): MemoryViews {
  const { buffer } = memory;
  return {
    buffer,
    u8: new Uint8Array(buffer),
    i8: new Int8Array(buffer),
    u32: new Uint32Array(buffer, 0, buffer.byteLength >>> 2),
  };
}

/**
 * Packs whole episodes, straight out of a cartridge's rollout arrays, into the columns of one
 * rollout chunk.
 *
 * Every column lives in one ArrayBuffer, allocated once per chunk with room for `capacityRows`
 * (the 4-byte columns first, so each is aligned), so a chunk crosses from a worker thread as one
 * transfer and costs the collector one object. Each episode is copied in place: a few `set`
 * calls, and the info records read through typed views of the cartridge's memory (the rollout
 * arrays are 4-byte aligned, docs/abi.md section 2). Rewards are copied as their bit patterns,
 * so the chunk holds exactly the bytes the cartridge wrote. A finished chunk hands out views of
 * the filled part and the builder is not used again, because the consumer owns the chunk while
 * the next one is built.
 */
export class RolloutChunkBuilder {
  private rowsValue = 0;
  private readonly episodes: Uint32Array;
  private readonly steps: Uint32Array;
  /** Rewards and player rewards as bit patterns (f32 on the wire). */
  private readonly rewardBits: Uint32Array;
  private readonly playerRewardBits: Uint32Array;
  private readonly actions: Uint8Array;
  private readonly flags: Uint8Array;
  private readonly currentPlayers: Int8Array;
  private readonly states: Uint8Array;
  private readonly obs: Uint8Array;
  private views: MemoryViews | undefined;

  constructor(
    private readonly build: BuildRef,
    private readonly sizes: RecordSizes,
    private readonly players: number,
    readonly capacityRows: number,
    private readonly includeObs: boolean,
    private readonly includeStates = true,
    reuse?: ArrayBuffer,
  ) {
    const n = capacityRows;
    const bytes = n * rolloutRowBytes(sizes, players, includeObs, includeStates);
    // A released chunk's buffer of the same call: every row handed out is written first.
    const buffer =
      reuse !== undefined && reuse.byteLength === bytes ? reuse : new ArrayBuffer(bytes);
    let at = 0;
    const take = (bytes: number) => {
      const start = at;
      at += bytes;
      return start;
    };
    this.episodes = new Uint32Array(buffer, take(4 * n), n);
    this.steps = new Uint32Array(buffer, take(4 * n), n);
    this.rewardBits = new Uint32Array(buffer, take(4 * n), n);
    this.playerRewardBits = new Uint32Array(buffer, take(4 * n * players), n * players);
    this.actions = new Uint8Array(buffer, take(n * sizes.actionBytes), n * sizes.actionBytes);
    this.flags = new Uint8Array(buffer, take(n), n);
    this.currentPlayers = new Int8Array(buffer, take(n), n);
    const stateBytes = includeStates ? n * sizes.stateBytes : 0;
    this.states = new Uint8Array(buffer, take(stateBytes), stateBytes);
    const obsBytes = includeObs ? n * sizes.obsBytes : 0;
    this.obs = new Uint8Array(buffer, take(obsBytes), obsBytes);
  }

  /** Rows packed so far. */
  get rows(): number {
    return this.rowsValue;
  }

  /** True when `rows` more rows fit. */
  fits(rows: number): boolean {
    return this.rowsValue + rows <= this.capacityRows;
  }

  /**
   * Copies the `rows` steps of episode `episode` from the rollout arrays `layout` in `memory`.
   * The caller checks `fits(rows)` first.
   */
  appendEpisode(memory: Uint8Array, layout: ArrayLayout, episode: number, rows: number): void {
    const at = this.rowsValue;
    if (!this.fits(rows)) {
      throw new RangeError(`chunk holds ${this.capacityRows} rows; ${at} + ${rows} do not fit`);
    }
    const { actionBytes, stateBytes, obsBytes } = this.sizes;
    for (let t = 0; t < rows; t++) {
      this.episodes[at + t] = episode;
      this.steps[at + t] = t;
    }
    copyBytes(memory, layout.actions, this.actions, at * actionBytes, rows * actionBytes);
    if (this.includeStates) {
      copyBytes(memory, layout.states, this.states, at * stateBytes, rows * stateBytes);
    }
    if (this.includeObs) {
      copyBytes(memory, layout.obs, this.obs, at * obsBytes, rows * obsBytes);
    }
    this.appendInfos(memory, layout.infos, at, rows);
    this.rowsValue = at + rows;
  }

  /** The info columns of `rows` records packed from byte `offset` (4-byte aligned) of `memory`. */
  private appendInfos(memory: Uint8Array, offset: number, at: number, rows: number): void {
    if (this.views?.buffer !== memory.buffer) this.views = viewsOf(memory);
    const { u8, i8, u32 } = this.views;
    const players = this.players;
    const strideWords = 2 + players;
    const first = memory.byteOffset + offset;
    if (first % 4 !== 0) throw new RangeError(`info records at ${first} are not 4-byte aligned`);
    let word = first >>> 2;
    for (let i = 0; i < rows; i++) {
      const byte = word << 2;
      const out = at + i;
      this.rewardBits[out] = u32[word + (InfoOffset.reward >>> 2)]!;
      const terminated = u8[byte + InfoOffset.terminated] !== 0 ? 1 : 0;
      const truncated = u8[byte + InfoOffset.truncated] !== 0 ? 2 : 0;
      this.flags[out] = terminated | truncated;
      this.currentPlayers[out] = i8[byte + InfoOffset.currentPlayer]!;
      const rewardsWord = word + (InfoOffset.playerRewards >>> 2);
      for (let p = 0; p < players; p++) {
        this.playerRewardBits[out * players + p] = u32[rewardsWord + p]!;
      }
      word += strideWords;
    }
  }

  /** The one buffer every column lives in. */
  get buffer(): ArrayBuffer {
    return this.episodes.buffer as ArrayBuffer;
  }

  /** The packed chunk: views of the filled rows. */
  finish(): RolloutChunk {
    const n = this.rowsValue;
    const { actionBytes, stateBytes, obsBytes } = this.sizes;
    const f32 = (bits: Uint32Array, length: number) =>
      new Float32Array(bits.buffer, bits.byteOffset, length);
    return {
      build: this.build,
      rows: n,
      episodes: this.episodes.subarray(0, n),
      steps: this.steps.subarray(0, n),
      actions: this.actions.subarray(0, n * actionBytes),
      states: this.states.subarray(0, this.includeStates ? n * stateBytes : 0),
      obs: this.obs.subarray(0, this.includeObs ? n * obsBytes : 0),
      rewards: f32(this.rewardBits, n),
      flags: this.flags.subarray(0, n),
      currentPlayers: this.currentPlayers.subarray(0, n),
      playerRewards: f32(this.playerRewardBits, n * this.players),
    };
  }
}

/**
 * Released buffers one call keeps for its next chunks: about the chunks a consumer has in flight
 * (a server writes a few ahead, and their writes complete in bursts).
 */
const MAX_SPARE_BUFFERS = 4;

/** How each recyclable chunk hands its buffer back, by chunk. */
const RELEASES = new WeakMap<RolloutChunk, () => void>();

/**
 * Hands a rollout chunk's memory back to the engine that made it, to hold a later chunk of the
 * same call. Call it once nothing reads the chunk's columns any more (they change afterwards).
 * Optional, and a no-op for a chunk released already or not recyclable: a chunk never released is
 * left to the collector. Recycling matters because chunks are the engine's highest-volume
 * allocation, and fresh ones keep the collector busy.
 */
export function releaseRolloutChunk(chunk: RolloutChunk): void {
  const release = RELEASES.get(chunk);
  if (release === undefined) return;
  RELEASES.delete(chunk);
  release();
}

/**
 * The buffers of a call's released chunks, handed to the builders of its later chunks, so that a
 * long stream reuses a few buffers instead of allocating one per chunk.
 */
export class ChunkBuffers {
  private readonly spare: ArrayBuffer[] = [];

  /** A released buffer, if any (the builder uses it only if its size fits). */
  take(): ArrayBuffer | undefined {
    return this.spare.pop();
  }

  /** Makes `chunk` recyclable: `releaseRolloutChunk` returns `buffer` (all its columns) here. */
  releasable(chunk: RolloutChunk, buffer: ArrayBuffer): RolloutChunk {
    RELEASES.set(chunk, () => {
      if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(buffer);
    });
    return chunk;
  }
}
