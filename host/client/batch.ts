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

/** Decodes a chunk's packed columns per the env's capabilities. */
export function decodeChunk(caps: Capabilities, chunk: SimResultChunk): DecodedChunk {
  const terminated = new Uint8Array(chunk.flags.length);
  const truncated = new Uint8Array(chunk.flags.length);
  for (let i = 0; i < chunk.flags.length; i++) {
    const flags = chunk.flags[i] ?? 0;
    terminated[i] = flags & 1;
    truncated[i] = (flags >> 1) & 1;
  }
  return {
    envId: chunk.id?.envId ?? "",
    buildId: chunk.id?.buildId ?? "",
    rows: chunk.rows,
    index: u32View(chunk.index),
    step: u32View(chunk.step),
    actions: u8View(chunk.actions),
    states: u8View(chunk.states),
    obs: decodeObs(caps, chunk.obs),
    rewards: f32View(chunk.rewards),
    terminated,
    truncated,
    currentPlayers: i8View(chunk.currentPlayers),
    playerRewards: f32View(chunk.playerRewards),
    statuses: u8View(chunk.statuses),
  };
}
