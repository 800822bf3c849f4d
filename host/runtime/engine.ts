import type { CallError } from "./errors.js";
import type { CartridgeManifest } from "./manifest.js";

/**
 * The engine API: what the gRPC layer (and anything else in the host) calls to run cartridges.
 * Two contracts live here:
 *
 * - `Engine`, asynchronous: every call that runs guest code returns a Promise (or an async
 *   generator), so that an implementation may run it off the caller's thread (a worker pool) and
 *   the caller's event loop keeps serving others meanwhile. This is the interface the server and
 *   the replicated console use.
 * - `SyncEngine`, the same operations run to completion on the calling thread.
 *   `CartridgeEngine` (cartridge-engine.ts) implements it over the registry and the sandboxed
 *   instances; it is what runs inside a worker, and what tests and benchmarks drive directly.
 *   `InlineEngine` (inline-engine.ts) adapts it to `Engine` on the calling thread.
 *
 * Every method fails with `CallError` (see errors.ts) for a bad request or a misbehaving cartridge
 * and never leaves the engine unusable: the next call works.
 */

/** Identifies one build of one env: `buildId` is the hex sha256 of the module bytes. */
export interface BuildRef {
  readonly envId: string;
  readonly buildId: string;
}

/** Everything a client needs to drive an env without reading its source. */
export interface EnvCapabilities extends BuildRef {
  readonly manifest: CartridgeManifest;
  /** Size of one info record (8 + 4 * players). */
  readonly infoBytes: number;
  /** Bytes in the legal-action mask; 0 when the space has none (box). */
  readonly legalMaskBytes: number;
  /** Largest `count` accepted by `batchStep` (bounded by the exchange region and host limits). */
  readonly maxBatch: number;
  /** Largest `stepCap` accepted by `rollout`, per episode. */
  readonly maxRolloutSteps: number;
  /** Where the module came from (a file path), for logs and ListEnvs. */
  readonly source: string;
}

/** Selects an env and, optionally, a pinned build; without `buildId` the current build is used. */
export interface EnvSelector {
  readonly envId: string;
  readonly buildId?: string | undefined;
}

/** Result of one reset or step. Arrays are fresh copies owned by the caller. */
export interface Transition {
  readonly build: BuildRef;
  readonly state: Uint8Array;
  readonly obs: Uint8Array;
  /** The reward of the player who acted (0 after reset). */
  readonly reward: number;
  readonly terminated: boolean;
  readonly truncated: boolean;
  /** Who acts next; -1 once the episode is over. */
  readonly currentPlayer: number;
  /** One reward per player for this transition. */
  readonly playerRewards: Float32Array;
  /** Legal-action mask of the new state (one byte per action); empty for box spaces. */
  readonly legalMask: Uint8Array;
}

/** One step of {@link Engine.stepEach}. */
export interface StepItem {
  readonly state: Uint8Array;
  readonly action: Uint8Array;
}

/** The outcome of one item of `stepEach`: its transition, or the error a lone `step` would throw. */
export type StepItemOutcome =
  | { readonly ok: true; readonly transition: Transition }
  | { readonly ok: false; readonly error: CallError };

/**
 * Result of a batch step, as packed columns: env `i` has state bytes
 * `states[i*stateBytes .. (i+1)*stateBytes)`, and so on. `statuses[i]` is the ABI status of env
 * `i` (0 = OK); a failed env's output state is its input state.
 */
export interface BatchTransition {
  readonly build: BuildRef;
  readonly count: number;
  readonly states: Uint8Array;
  readonly obs: Uint8Array;
  readonly rewards: Float32Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  readonly currentPlayers: Int8Array;
  /** `count * players` rewards, env-major. */
  readonly playerRewards: Float32Array;
  readonly statuses: Uint8Array;
  /** `count * legalMaskBytes` bytes: the legal mask of each env's (new) state. */
  readonly legalMasks?: Uint8Array;
  /** Autoreset only: the last observation of each env whose episode ended, packed in row order. */
  readonly finalObs?: Uint8Array;
  /** Autoreset only: the last state of each env whose episode ended, packed in row order. */
  readonly finalStates?: Uint8Array;
}

/** Options of a vector step. */
export interface VectorStepOptions {
  /**
   * Same-step autoreset: an env whose episode ends in this step is reset at once, env `i` (its
   * index in the whole request) seeded `seed + i` (mod 2^64); see `BatchTransition.finalObs`.
   */
  readonly autoreset?: { readonly seed: bigint };
}

/** A vector reset: env `i` seeded `seed + i` (mod 2^64), EnvPool's convention. */
export interface VectorResetRequest extends EnvSelector {
  readonly seed: bigint;
  readonly count: number;
  /** No hint, one hint for every env, or `count` hints (hint `i` for env `i`). */
  readonly hints: readonly Uint8Array[];
}

/** Parameters of a batch of in-cartridge rollouts. Episode `i` is seeded `seed + i` (mod 2^64). */
export interface RolloutRequest extends EnvSelector {
  readonly seed: bigint;
  readonly episodes: number;
  /** Per-episode step cap; at most `maxRolloutSteps`. */
  readonly stepCap: number;
  readonly includeObs: boolean;
  /**
   * Also return each step's state (default true). Without it `states` is empty and is neither
   * copied out of the cartridge nor moved between threads.
   */
  readonly includeStates?: boolean;
  /** Soft upper bound on steps per yielded chunk (a chunk always holds whole episodes' steps
   * unless one episode alone is longer). */
  readonly chunkSteps?: number;
}

/**
 * One chunk of rollout results as packed columns, one row per step. `episodes[r]` is the episode
 * index (0-based, relative to the request) and `steps[r]` the step index within it. `obs` is empty
 * unless `includeObs` was set, `states` when `includeStates` was false. `flags[r]` has bit 0 = terminated, bit 1 = truncated.
 * A consumer done with a chunk may hand its memory back with `releaseRolloutChunk`.
 */
export interface RolloutChunk {
  readonly build: BuildRef;
  readonly rows: number;
  readonly episodes: Uint32Array;
  readonly steps: Uint32Array;
  readonly actions: Uint8Array;
  readonly states: Uint8Array;
  readonly obs: Uint8Array;
  readonly rewards: Float32Array;
  readonly flags: Uint8Array;
  readonly currentPlayers: Int8Array;
  readonly playerRewards: Float32Array;
}

/** Events the engine emits when the set of envs changes (used for logs and metrics). */
export type RegistryEvent =
  | {
      readonly kind: "registered";
      readonly build: BuildRef;
      readonly source: string;
      readonly replaced?: string;
    }
  | {
      readonly kind: "unregistered";
      readonly envId: string;
      readonly source: string;
      /** Set when one build was removed (`Registry.remove`); absent when the whole env went. */
      readonly buildId?: string;
    }
  | {
      readonly kind: "rejected";
      readonly source: string;
      readonly code: string;
      readonly message: string;
    };

/** Per-call options of the asynchronous engine. */
export interface CallOptions {
  /**
   * Aborting stops the call's work as soon as the engine can: before it starts, between chunks
   * (or episodes), and, for an implementation that runs guest code in a worker, by terminating a
   * runaway call. The call then fails with `CallError` code `Cancelled`.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The asynchronous engine (the same operations as `SyncEngine`, documented there). Metadata (`listEnvs`, `capabilities`) is answered synchronously and
 * never runs guest code. Everything else may run guest code and:
 *
 * - resolves with results the caller owns (no view into any engine memory);
 * - rejects with a `CallError` for a bad request or a failing cartridge (`BudgetExceeded` when it
 *   ran out of fuel, `Trap`, `Timeout` when a wall-clock watchdog had to stop it, `Cancelled`
 *   when `options.signal` aborted it); only that call fails;
 * - gives the same bytes however the implementation splits the work: rollout episode `i` is
 *   seeded `seed + i` and chunks come in request order.
 *
 * The two generator methods validate the request and resolve the build when called (throwing
 * `CallError` synchronously for a bad request), then produce chunks lazily as the caller pulls
 * them, holding that build to the end; `return()` on the generator releases its resources.
 */
export interface Engine {
  /** Capabilities of every env's current build, sorted by env id. */
  listEnvs(): EnvCapabilities[];
  capabilities(selector: EnvSelector): EnvCapabilities;
  reset(
    selector: EnvSelector,
    seed: bigint,
    hint?: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition>;
  step(
    selector: EnvSelector,
    state: Uint8Array,
    action: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition>;
  /**
   * Steps each item exactly as `step` would (each metered alone, with its own fuel budget, in
   * item order), in one call, so that a worker pool makes one round trip for all of them (the
   * replicated sessions step many sessions of one build per slot). An item's `CallError` is that
   * item's outcome; the call rejects only for what fails every item: the selector, `Timeout`,
   * `Cancelled`, a crashed worker.
   */
  stepEach(
    selector: EnvSelector,
    items: readonly StepItem[],
    options?: CallOptions,
  ): Promise<StepItemOutcome[]>;
  batchStep(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    options?: CallOptions,
  ): Promise<BatchTransition>;
  batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options?: VectorStepOptions & CallOptions,
  ): AsyncGenerator<BatchTransition, void, void>;
  resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
    options?: CallOptions,
  ): AsyncGenerator<BatchTransition, void, void>;
  rollout(request: RolloutRequest, options?: CallOptions): AsyncGenerator<RolloutChunk, void, void>;
}

/** The engine run to completion on the calling thread (see the top of this file). */
export interface SyncEngine {
  /** Capabilities of every env's current build, sorted by env id. */
  listEnvs(): EnvCapabilities[];
  capabilities(selector: EnvSelector): EnvCapabilities;
  reset(selector: EnvSelector, seed: bigint, hint?: Uint8Array): Transition;
  step(selector: EnvSelector, state: Uint8Array, action: Uint8Array): Transition;
  /** Steps `states.length / stateBytes` envs in one call; actions packed the same way. */
  batchStep(selector: EnvSelector, states: Uint8Array, actions: Uint8Array): BatchTransition;
  /**
   * Vector-steps any number of envs packed in `states`/`actions`, lazily, at most `rowsPerChunk`
   * envs per yielded result. The build is resolved and the sizes are checked when this is
   * called; the generator then holds that build to the end, so a hot reload or the removal of
   * the env never breaks a stream in progress.
   */
  batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options?: VectorStepOptions,
  ): Generator<BatchTransition, void, void>;
  /**
   * Starts `request.count` episodes, lazily, at most `rowsPerChunk` envs per yielded result; the
   * request is validated and the build resolved when this is called, as for `batchStepChunks`.
   */
  resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
  ): Generator<BatchTransition, void, void>;
  /** Runs `episodes` in-cartridge rollouts, yielding chunks lazily so callers can apply backpressure. */
  rollout(request: RolloutRequest): Generator<RolloutChunk, void, void>;
}
