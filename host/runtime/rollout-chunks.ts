import type { BuildRef, RolloutChunk } from "./engine.js";
import type { ArrayLayout, RecordSizes } from "./exchange-layout.js";
import { type InfoColumns, writeInfoColumns } from "./info-record.js";

/** Below this many bytes a plain loop beats `TypedArray.set`, whose fixed cost dominates. */
const SMALL_COPY_BYTES = 64;

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

/**
 * Packs whole episodes, straight out of a cartridge's rollout arrays, into the columns of one
 * rollout chunk.
 *
 * The columns are allocated once per chunk with room for `capacityRows`, and each episode is
 * copied in place, so the cost per episode is a few `set` calls rather than a dozen small
 * allocations: rollouts are the engine's highest-volume path. A finished chunk hands out views of
 * the filled part and the builder is not used again, because the consumer owns the chunk while
 * the next one is built.
 */
export class RolloutChunkBuilder {
  private rowsValue = 0;
  private readonly episodes: Uint32Array;
  private readonly steps: Uint32Array;
  private readonly actions: Uint8Array;
  private readonly states: Uint8Array;
  private readonly obs: Uint8Array;
  private readonly info: InfoColumns;

  constructor(
    private readonly build: BuildRef,
    private readonly sizes: RecordSizes,
    private readonly players: number,
    readonly capacityRows: number,
    private readonly includeObs: boolean,
    private readonly includeStates = true,
  ) {
    this.episodes = new Uint32Array(capacityRows);
    this.steps = new Uint32Array(capacityRows);
    this.actions = new Uint8Array(capacityRows * sizes.actionBytes);
    this.states = new Uint8Array(includeStates ? capacityRows * sizes.stateBytes : 0);
    this.obs = new Uint8Array(includeObs ? capacityRows * sizes.obsBytes : 0);
    this.info = {
      rewards: new Float32Array(capacityRows),
      terminated: new Uint8Array(capacityRows),
      truncated: new Uint8Array(capacityRows),
      flags: new Uint8Array(capacityRows),
      currentPlayers: new Int8Array(capacityRows),
      playerRewards: new Float32Array(capacityRows * players),
      statuses: new Uint8Array(capacityRows),
    };
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
    writeInfoColumns(memory, layout.infos, rows, this.players, this.info, at);
    this.rowsValue = at + rows;
  }

  /** The packed chunk: views of the filled rows. */
  finish(): RolloutChunk {
    const n = this.rowsValue;
    const { actionBytes, stateBytes, obsBytes } = this.sizes;
    return {
      build: this.build,
      rows: n,
      episodes: this.episodes.subarray(0, n),
      steps: this.steps.subarray(0, n),
      actions: this.actions.subarray(0, n * actionBytes),
      states: this.states.subarray(0, this.includeStates ? n * stateBytes : 0),
      obs: this.obs.subarray(0, this.includeObs ? n * obsBytes : 0),
      rewards: this.info.rewards.subarray(0, n),
      flags: this.info.flags.subarray(0, n),
      currentPlayers: this.info.currentPlayers.subarray(0, n),
      playerRewards: this.info.playerRewards.subarray(0, n * this.players),
    };
  }
}
