import type {
  BatchTransition,
  EnvCapabilities,
  EnvSelector,
  RolloutChunk,
  RolloutRequest,
  SyncEngine,
  Transition,
  VectorResetRequest,
} from "../../../host/runtime/engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { parseManifest } from "../../../host/runtime/manifest.js";

/**
 * A tiny in-process engine (wrap it in `InlineEngine` to serve it) for unit tests of the server's plumbing (flow control, status mapping,
 * request limits) in isolation. The same behaviour is also tested against real cartridges in
 * test/integration. Its one env, "count-v1", counts up: the state is a u32, action 1 adds one,
 * action 0 adds nothing, and the episode terminates at 10. It counts the rollout rows it has
 * produced, so tests can see how far a generator was pulled.
 */
export class CountingEngine implements SyncEngine {
  rowsProduced = 0;
  private readonly caps: EnvCapabilities;

  constructor() {
    const manifest = parseManifest(
      new TextEncoder().encode(
        JSON.stringify({
          abi_version: 1,
          env_id: "count-v1",
          version: "1.0.0",
          encoding: { state: "u32:v1", action: "discrete:v1", obs: "f32x1:v1", schema_version: 1 },
          action_space: { discrete: { n: 2 } },
          observation: { dtype: "f32", shape: [1] },
          players: 1,
          max_horizon: 10,
          preferred_batch: 8,
          state_bytes: 4,
          action_bytes: 4,
          obs_bytes: 4,
          hint_max_bytes: 0,
        }),
      ),
    );
    this.caps = {
      envId: "count-v1",
      buildId: "0".repeat(64),
      manifest,
      infoBytes: 12,
      legalMaskBytes: 2,
      maxBatch: 64,
      maxRolloutSteps: 10,
      source: "memory",
    };
  }

  listEnvs(): EnvCapabilities[] {
    return [this.caps];
  }

  capabilities(selector: EnvSelector): EnvCapabilities {
    if (selector.envId !== "count-v1") {
      throw new CallError("UnknownEnv", `no env named ${selector.envId}`, selector.envId);
    }
    return this.caps;
  }

  private transition(count: number, reward: number): Transition {
    const state = new Uint8Array(4);
    new DataView(state.buffer).setUint32(0, count, true);
    const done = count >= 10;
    return {
      build: this.caps,
      state,
      obs: new Uint8Array(new Float32Array([count]).buffer),
      reward,
      terminated: done,
      truncated: false,
      currentPlayer: done ? -1 : 0,
      playerRewards: new Float32Array([reward]),
      legalMask: new Uint8Array(done ? [0, 0] : [1, 1]),
    };
  }

  reset(selector: EnvSelector): Transition {
    this.capabilities(selector);
    return this.transition(0, 0);
  }

  step(selector: EnvSelector, state: Uint8Array, action: Uint8Array): Transition {
    this.capabilities(selector);
    if (state.length !== 4) throw new CallError("BadState", "state must be 4 bytes", "count-v1");
    if (action.length !== 4) throw new CallError("BadAction", "action must be 4 bytes", "count-v1");
    const count = new DataView(state.buffer, state.byteOffset).getUint32(0, true);
    const a = new DataView(action.buffer, action.byteOffset).getUint32(0, true);
    if (a > 1) throw new CallError("BadAction", `action ${a} is not 0 or 1`, "count-v1");
    if (count >= 10) throw new CallError("EpisodeOver", "the episode is over", "count-v1");
    return this.transition(count + a, a);
  }

  *batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
  ): Generator<BatchTransition, void, void> {
    const count = states.length / 4;
    for (let start = 0; start < count; start += rowsPerChunk) {
      const end = Math.min(count, start + rowsPerChunk);
      yield this.batchStep(
        selector,
        states.subarray(4 * start, 4 * end),
        actions.subarray(4 * start, 4 * end),
      );
    }
  }

  *resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
  ): Generator<BatchTransition, void, void> {
    this.capabilities(request);
    for (let start = 0; start < request.count; start += rowsPerChunk) {
      const count = Math.min(rowsPerChunk, request.count - start);
      yield {
        build: this.caps,
        count,
        states: new Uint8Array(4 * count),
        obs: new Uint8Array(4 * count),
        rewards: new Float32Array(count),
        terminated: new Uint8Array(count),
        truncated: new Uint8Array(count),
        currentPlayers: new Int8Array(count),
        playerRewards: new Float32Array(count),
        statuses: new Uint8Array(count),
        legalMasks: new Uint8Array(2 * count).fill(1),
      };
    }
  }

  batchStep(selector: EnvSelector, states: Uint8Array, actions: Uint8Array): BatchTransition {
    const count = states.length / 4;
    const out = new Uint8Array(states);
    const obs = new Float32Array(count);
    const rewards = new Float32Array(count);
    const statuses = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      try {
        const t = this.step(
          selector,
          states.subarray(4 * i, 4 * i + 4),
          actions.subarray(4 * i, 4 * i + 4),
        );
        out.set(t.state, 4 * i);
        obs[i] = t.reward;
        rewards[i] = t.reward;
      } catch {
        statuses[i] = 3;
      }
    }
    return {
      build: this.caps,
      count,
      states: out,
      obs: new Uint8Array(obs.buffer),
      rewards,
      terminated: new Uint8Array(count),
      truncated: new Uint8Array(count),
      currentPlayers: new Int8Array(count),
      playerRewards: rewards.slice(),
      statuses,
    };
  }

  *rollout(request: RolloutRequest): Generator<RolloutChunk, void, void> {
    this.capabilities(request);
    const perChunk = Math.max(1, Math.floor((request.chunkSteps ?? 100) / request.stepCap));
    for (let first = 0; first < request.episodes; first += perChunk) {
      const episodes = Math.min(perChunk, request.episodes - first);
      const rows = episodes * request.stepCap;
      const chunk: RolloutChunk = {
        build: this.caps,
        rows,
        episodes: new Uint32Array(rows).map((_, r) => first + Math.floor(r / request.stepCap)),
        steps: new Uint32Array(rows).map((_, r) => r % request.stepCap),
        actions: new Uint8Array(rows * 4),
        states: new Uint8Array(rows * 4),
        obs: request.includeObs ? new Uint8Array(rows * 4) : new Uint8Array(0),
        rewards: new Float32Array(rows).fill(1),
        flags: new Uint8Array(rows).map((_, r) =>
          r % request.stepCap === request.stepCap - 1 ? 1 : 0,
        ),
        currentPlayers: new Int8Array(rows),
        playerRewards: new Float32Array(rows).fill(1),
      };
      this.rowsProduced += rows;
      yield chunk;
    }
  }
}
