import type { Capabilities, SimResultChunk } from "../proto/generated/engine/v1/engine.js";
import { decodeObs, f32View, i8View, type Observation, u8View, u32View } from "./codec.js";

/**
 * One BatchSimulate chunk as typed columns (views over the received bytes where alignment
 * allows, copies otherwise). Row r's state is `states.subarray(r * stateBytes, (r + 1) *
 * stateBytes)`; observations are flat, `obsBytes / sizeof(dtype)` values per row.
 */
export interface DecodedChunk {
  readonly envId: string;
  readonly buildId: string;
  readonly rows: number;
  /** Env index (vector step) or episode index (rollouts) of each row. */
  readonly index: Uint32Array;
  /** Step index within the episode (rollouts; empty for a vector step). */
  readonly step: Uint32Array;
  /** Actions taken (rollouts), `actionBytes` per row. */
  readonly actions: Uint8Array;
  /** States after each row, `stateBytes` per row (empty when not requested). */
  readonly states: Uint8Array;
  /** Observations after each row, decoded per the obs dtype (empty when not requested). */
  readonly obs: Observation;
  readonly rewards: Float32Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  readonly currentPlayers: Int8Array;
  /** `rows * players` rewards, row-major. */
  readonly playerRewards: Float32Array;
  /** Per-row status (vector step; 0 = OK, see EnvStatus); empty for rollouts. */
  readonly statuses: Uint8Array;
}

/**
 * A chunk whose columns are decoded when first read, then kept: a caller that only counts rows,
 * or reads a few columns, pays nothing for the others (observations are the largest).
 */
class LazyChunk implements DecodedChunk {
  readonly envId: string;
  readonly buildId: string;
  readonly rows: number;
  private indexValue: Uint32Array | undefined;
  private stepValue: Uint32Array | undefined;
  private obsValue: Observation | undefined;
  private rewardsValue: Float32Array | undefined;
  private terminatedValue: Uint8Array | undefined;
  private truncatedValue: Uint8Array | undefined;
  private playerRewardsValue: Float32Array | undefined;

  constructor(
    private readonly caps: Capabilities,
    private readonly chunk: SimResultChunk,
  ) {
    this.envId = chunk.id?.envId ?? "";
    this.buildId = chunk.id?.buildId ?? "";
    this.rows = chunk.rows;
  }

  get index(): Uint32Array {
    this.indexValue ??= u32View(this.chunk.index);
    return this.indexValue;
  }

  get step(): Uint32Array {
    this.stepValue ??= u32View(this.chunk.step);
    return this.stepValue;
  }

  get actions(): Uint8Array {
    return u8View(this.chunk.actions);
  }

  get states(): Uint8Array {
    return u8View(this.chunk.states);
  }

  get obs(): Observation {
    this.obsValue ??= decodeObs(this.caps, this.chunk.obs);
    return this.obsValue;
  }

  get rewards(): Float32Array {
    this.rewardsValue ??= f32View(this.chunk.rewards);
    return this.rewardsValue;
  }

  get terminated(): Uint8Array {
    this.terminatedValue ??= flagBit(this.chunk.flags, 0);
    return this.terminatedValue;
  }

  get truncated(): Uint8Array {
    this.truncatedValue ??= flagBit(this.chunk.flags, 1);
    return this.truncatedValue;
  }

  get currentPlayers(): Int8Array {
    return i8View(this.chunk.currentPlayers);
  }

  get playerRewards(): Float32Array {
    this.playerRewardsValue ??= f32View(this.chunk.playerRewards);
    return this.playerRewardsValue;
  }

  get statuses(): Uint8Array {
    return u8View(this.chunk.statuses);
  }
}

/** Bit `bit` of each flags byte, as 0 or 1. */
function flagBit(flags: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(flags.length);
  for (let i = 0; i < flags.length; i++) out[i] = (flags[i]! >> bit) & 1;
  return out;
}

/**
 * Decodes a chunk's packed columns per the env's capabilities, lazily: each column is decoded
 * (a view of the received bytes where alignment allows, a copy otherwise) when first read.
 */
export function decodeChunk(caps: Capabilities, chunk: SimResultChunk): DecodedChunk {
  return new LazyChunk(caps, chunk);
}
