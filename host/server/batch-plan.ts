import type { BatchSimulateRequest, SimResultChunk } from "../proto/generated/engine/v1/engine.js";
import type {
  BatchTransition,
  Engine,
  EnvCapabilities,
  EnvSelector,
  RolloutChunk,
} from "../runtime/engine.js";
import { CallError } from "../runtime/errors.js";
import { releaseRolloutChunk } from "../runtime/rollout-chunks.js";
import { EncodeBuffers, encodeAhead } from "./chunk-encoder.js";
import { asBuffer, engineId, typedAsBuffer } from "./convert.js";
import type { ServerLimits } from "./limits.js";
import { requestError } from "./status.js";

/**
 * Turns a validated BatchSimulate request into a lazy sequence of result chunks. Nothing is
 * simulated until the caller pulls the next chunk, which is what lets the stream stop producing
 * while the client is not reading.
 */
export interface BatchPlan {
  readonly mode: "vector" | "rollouts" | "reset";
  readonly caps: EnvCapabilities;
  /** Rows the whole call will produce at most (for logs). */
  readonly maxRows: number;
  readonly chunks: AsyncGenerator<SimResultChunk, void, void>;
  /**
   * Tells the engine a chunk of `chunks` was written (serialized), so it may reuse the chunk's
   * memory for a later one. Optional; a chunk never released is left to the collector.
   */
  release(chunk: SimResultChunk): void;
}

/** Release functions of chunks that hold engine memory, by the message that views it. */
const RELEASES = new WeakMap<SimResultChunk, () => void>();

function release(chunk: SimResultChunk): void {
  const done = RELEASES.get(chunk);
  if (done === undefined) return;
  RELEASES.delete(chunk);
  done();
}

/** Chunk rows for a call: the client's wish within the server's caps and byte budget. */
function chunkRows(limits: ServerLimits, requested: number, rowBytes: number): number {
  const wanted = requested > 0 ? Math.min(requested, limits.maxChunkRows) : limits.defaultChunkRows;
  const byBytes = Math.floor(limits.chunkTargetBytes / Math.max(1, rowBytes));
  return Math.max(1, Math.min(wanted, byBytes));
}

function flagsOf(terminated: Uint8Array, truncated: Uint8Array): Buffer {
  const flags = Buffer.allocUnsafe(terminated.length);
  for (let i = 0; i < flags.length; i++) {
    flags[i] = (terminated[i] ?? 0) | ((truncated[i] ?? 0) << 1);
  }
  return flags;
}

const EMPTY = Buffer.alloc(0);

async function* vectorChunks(
  results: AsyncGenerator<BatchTransition, void, void>,
): AsyncGenerator<SimResultChunk, void, void> {
  let start = 0;
  for await (const result of results) {
    const rows = result.count;
    const index = new Uint32Array(rows);
    for (let i = 0; i < rows; i++) index[i] = start + i;
    start += rows;
    yield {
      id: engineId(result.build),
      rows,
      index: typedAsBuffer(index),
      step: EMPTY,
      actions: EMPTY,
      states: asBuffer(result.states),
      obs: asBuffer(result.obs),
      rewards: typedAsBuffer(result.rewards),
      flags: flagsOf(result.terminated, result.truncated),
      currentPlayers: typedAsBuffer(result.currentPlayers),
      playerRewards: typedAsBuffer(result.playerRewards),
      statuses: asBuffer(result.statuses),
      legalMasks: result.legalMasks === undefined ? EMPTY : asBuffer(result.legalMasks),
      finalObs: result.finalObs === undefined ? EMPTY : asBuffer(result.finalObs),
      finalStates: result.finalStates === undefined ? EMPTY : asBuffer(result.finalStates),
    };
  }
}

async function* rolloutChunks(
  chunks: AsyncGenerator<RolloutChunk, void, void>,
  includeStates: boolean,
  maxInFlightChunks: number,
): AsyncGenerator<SimResultChunk, void, void> {
  const buffers = new EncodeBuffers(maxInFlightChunks);
  for await (const chunk of chunks) {
    const message: SimResultChunk = {
      id: engineId(chunk.build),
      rows: chunk.rows,
      index: typedAsBuffer(chunk.episodes),
      step: typedAsBuffer(chunk.steps),
      actions: asBuffer(chunk.actions),
      states: includeStates ? asBuffer(chunk.states) : EMPTY,
      obs: asBuffer(chunk.obs),
      rewards: typedAsBuffer(chunk.rewards),
      flags: asBuffer(chunk.flags),
      currentPlayers: typedAsBuffer(chunk.currentPlayers),
      playerRewards: typedAsBuffer(chunk.playerRewards),
      statuses: EMPTY,
      legalMasks: EMPTY,
      finalObs: EMPTY,
      finalStates: EMPTY,
    };
    // Encoded here into a reused buffer; both go back once the write completed.
    let encoded: Buffer | undefined;
    encodeAhead(message, (size) => {
      encoded = buffers.take(size);
      return encoded;
    });
    RELEASES.set(message, () => {
      releaseRolloutChunk(chunk);
      if (encoded !== undefined) buffers.give(encoded);
    });
    yield message;
  }
}

/**
 * Validates a request against the env and the server limits and plans its chunks. Throws a
 * `CallError` (BadArgument, BadState, BadAction, LimitExceeded, UnknownEnv...) for a bad request.
 * `signal` aborts the engine's work for the call.
 */
export function planBatch(
  engine: Engine,
  request: BatchSimulateRequest,
  limits: ServerLimits,
  signal?: AbortSignal,
): BatchPlan {
  const envId = request.id?.envId ?? "";
  if (envId === "") throw requestError("BadArgument", "id.env_id is required");
  const caps = engine.capabilities({ envId, buildId: request.id?.buildId || undefined });
  // Pin the build for the whole call, so that a hot reload mid-stream cannot mix builds.
  const pinned: EnvSelector = { envId: caps.envId, buildId: caps.buildId };
  const m = caps.manifest;
  const mode = request.mode;
  if (mode === undefined) {
    throw requestError("BadArgument", "mode is required: set vector, rollouts or reset");
  }
  if (mode.$case === "reset") {
    const { seed, count, hints } = mode.value;
    if (count < 1) throw requestError("BadArgument", "reset.count must be at least 1");
    if (count > limits.maxVectorEnvs) {
      throw requestError(
        "LimitExceeded",
        `vector reset of ${count} envs; the server accepts at most ${limits.maxVectorEnvs} per call`,
      );
    }
    // Per row: the state, obs, mask, player rewards and the fixed columns, as for a vector step.
    const rowBytes = m.state_bytes + m.obs_bytes + caps.legalMaskBytes + 4 * m.players + 16;
    const rows = Math.min(
      chunkRows(limits, request.chunkRows, rowBytes),
      Math.max(1, caps.maxBatch),
    );
    return {
      mode: "reset",
      caps,
      release,
      maxRows: count,
      chunks: vectorChunks(
        engine.resetBatchChunks({ ...pinned, seed, count, hints }, rows, { signal }),
      ),
    };
  }
  if (mode.$case === "vector") {
    const { states, actions, autoreset, autoresetSeed } = mode.value;
    if (states.length === 0 || states.length % m.state_bytes !== 0) {
      throw new CallError(
        "BadState",
        `vector.states must be a non-empty multiple of state_bytes (${m.state_bytes}); got ${states.length} bytes`,
        caps.envId,
      );
    }
    const count = states.length / m.state_bytes;
    if (count > limits.maxVectorEnvs) {
      throw requestError(
        "LimitExceeded",
        `vector step of ${count} envs; the server accepts at most ${limits.maxVectorEnvs} per call`,
      );
    }
    if (actions.length !== count * m.action_bytes) {
      throw new CallError(
        "BadAction",
        `vector.actions must hold ${count} actions of ${m.action_bytes} bytes (${count * m.action_bytes} bytes); got ${actions.length}`,
        caps.envId,
      );
    }
    // Per row: the input and output state, obs, mask, player rewards, and 16 bytes of fixed
    // columns (u32 index, f32 reward, u8 flags, i8 player, u8 status, rounded up); with
    // autoreset, room for a final state and observation too.
    const finalBytes = autoreset ? m.state_bytes + m.obs_bytes : 0;
    const rowBytes =
      2 * m.state_bytes + m.obs_bytes + caps.legalMaskBytes + 4 * m.players + 16 + finalBytes;
    const rows = Math.min(
      chunkRows(limits, request.chunkRows, rowBytes),
      Math.max(1, caps.maxBatch),
    );
    return {
      mode: "vector",
      caps,
      release,
      maxRows: count,
      // Called here, not inside the generator: the build is resolved and held from this moment.
      chunks: vectorChunks(
        engine.batchStepChunks(pinned, states, actions, rows, {
          signal,
          ...(autoreset ? { autoreset: { seed: autoresetSeed } } : {}),
        }),
      ),
    };
  }
  const r = mode.value;
  if (r.episodes < 1) throw requestError("BadArgument", "rollouts.episodes must be at least 1");
  if (r.episodes > limits.maxRolloutEpisodes) {
    throw requestError(
      "LimitExceeded",
      `${r.episodes} episodes requested; the server accepts at most ${limits.maxRolloutEpisodes} per call`,
    );
  }
  const stepCap = r.stepCap === 0 ? Math.min(m.max_horizon, caps.maxRolloutSteps) : r.stepCap;
  if (stepCap > caps.maxRolloutSteps) {
    throw requestError(
      "LimitExceeded",
      `rollouts.step_cap ${stepCap} is over this env's max_rollout_steps (${caps.maxRolloutSteps})`,
    );
  }
  const totalSteps = r.episodes * stepCap;
  if (totalSteps > limits.maxRolloutTotalSteps) {
    throw requestError(
      "LimitExceeded",
      `episodes * step_cap = ${totalSteps}; the server accepts at most ${limits.maxRolloutTotalSteps} steps per call`,
    );
  }
  // Per row: the action, player rewards, 14 bytes of fixed columns (u32 episode, u32 step,
  // f32 reward, u8 flags, i8 player) and the optional obs and state.
  const rowBytes =
    m.action_bytes +
    4 * m.players +
    14 +
    (r.includeObs ? m.obs_bytes : 0) +
    (r.includeStates ? m.state_bytes : 0);
  return {
    mode: "rollouts",
    caps,
    release,
    maxRows: totalSteps,
    // Called here, not inside the generator: the request is validated and the build held now.
    chunks: rolloutChunks(
      engine.rollout(
        {
          ...pinned,
          seed: r.seed,
          episodes: r.episodes,
          stepCap,
          includeObs: r.includeObs,
          includeStates: r.includeStates,
          chunkSteps: chunkRows(limits, request.chunkRows, rowBytes),
        },
        { signal },
      ),
      r.includeStates,
      limits.maxInFlightChunks,
    ),
  };
}
