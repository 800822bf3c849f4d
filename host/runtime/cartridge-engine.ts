import type {
  BatchTransition,
  BuildRef,
  EnvCapabilities,
  EnvSelector,
  RolloutChunk,
  RolloutRequest,
  SyncEngine,
  Transition,
  VectorResetRequest,
  VectorStepOptions,
} from "./engine.js";
import { CallError, quoteForMessage } from "./errors.js";
import { readInfo, readInfoColumns } from "./info-record.js";
import type { CartridgeInstance } from "./instance.js";
import type { RegisteredBuild } from "./registry.js";
import { ChunkBuffers, RolloutChunkBuilder, rolloutRowBytes } from "./rollout-chunks.js";
import { batchGroupEnvs } from "./sandbox-options.js";
import { bytesForReplay, offsetTrapRow, withTrapContext } from "./trap-report.js";
import { autoresetRows, legalMasksAt, resetRows } from "./vector-rows.js";

/** Limits the engine puts on requests, on top of each cartridge's own. */
export interface EngineOptions {
  /** Most episodes in one rollout request (default 1,000,000). */
  readonly maxRolloutEpisodes?: number;
  /** Default soft bound on rows per rollout chunk (default 4096). */
  readonly defaultChunkSteps?: number;
  /** Largest `chunkSteps` a request may ask for (default 1,048,576). */
  readonly maxChunkSteps?: number;
  /**
   * Soft bound on the bytes one rollout chunk allocates (default 64 MiB). A chunk is still made
   * big enough for one whole episode of `stepCap` steps.
   */
  readonly maxChunkBytes?: number;
}

const SEED_LIMIT = 1n << 64n;

function checkSeed(seed: bigint, envId: string): void {
  if (typeof seed !== "bigint" || seed < 0n || seed >= SEED_LIMIT) {
    throw new CallError("BadArgument", `seed must be an integer in [0, 2^64), got ${seed}`, envId);
  }
}

function checkCount(name: string, value: number, max: number, envId: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new CallError("BadArgument", `${name} must be a positive integer, got ${value}`, envId);
  }
  if (value > max) {
    throw new CallError("LimitExceeded", `${name} is ${value}; the limit is ${max}`, envId);
  }
}

function buildRef(build: RegisteredBuild): BuildRef {
  return { envId: build.capabilities.envId, buildId: build.capabilities.buildId };
}

/** The env and build of a replay hint. */
function replayId(build: RegisteredBuild): string {
  return `env_id=${quoteForMessage(build.capabilities.envId)} build_id=${build.capabilities.buildId}`;
}

/** The Step request that reproduces a step. */
function stepReplay(build: RegisteredBuild, state: Uint8Array, action: Uint8Array): string {
  return `Step ${replayId(build)} state=${bytesForReplay(state)} action=${bytesForReplay(action)}`;
}

/** Where the engine finds builds: the `Registry`, or a worker's copy of the builds it was sent. */
export interface BuildSource {
  /** The selected build; throws `UnknownEnv` or `UnknownBuild`. */
  resolve(selector: EnvSelector): RegisteredBuild;
  /** Capabilities of every env's current build, sorted by env id. */
  list(): EnvCapabilities[];
}

/**
 * The `SyncEngine` over a `BuildSource` (normally the `Registry`): validates every request before it reaches a cartridge, runs it
 * on a pooled instance and copies the results out. A request the cartridge rejects becomes the
 * matching `CallError`; a trap fails only that call, and the trapped instance is replaced.
 */
export class CartridgeEngine implements SyncEngine {
  private readonly maxRolloutEpisodes: number;
  private readonly defaultChunkSteps: number;
  private readonly maxChunkSteps: number;
  private readonly maxChunkBytes: number;

  constructor(
    readonly registry: BuildSource,
    options: EngineOptions = {},
  ) {
    this.maxRolloutEpisodes = options.maxRolloutEpisodes ?? 1_000_000;
    this.defaultChunkSteps = options.defaultChunkSteps ?? 4096;
    this.maxChunkSteps = options.maxChunkSteps ?? 1 << 20;
    this.maxChunkBytes = options.maxChunkBytes ?? 64 * 1024 * 1024;
  }

  listEnvs(): EnvCapabilities[] {
    return this.registry.list();
  }

  capabilities(selector: EnvSelector): EnvCapabilities {
    return this.registry.resolve(selector).capabilities;
  }

  reset(selector: EnvSelector, seed: bigint, hint: Uint8Array = new Uint8Array(0)): Transition {
    const build = this.registry.resolve(selector);
    const { manifest } = build.cartridge;
    checkSeed(seed, manifest.env_id);
    if (hint.byteLength > manifest.hint_max_bytes) {
      throw new CallError(
        "BadHint",
        `hint is ${hint.byteLength} bytes; ${manifest.env_id} accepts at most ${manifest.hint_max_bytes}`,
        manifest.env_id,
      );
    }
    try {
      return build.pool.with((instance) => {
        instance.reset(seed, hint);
        return this.transition(build, instance);
      });
    } catch (error) {
      throw withTrapContext(error, {
        seed: seed.toString(),
        replay: `Reset ${replayId(build)} seed=${seed} hint=${bytesForReplay(hint)}`,
      });
    }
  }

  step(selector: EnvSelector, state: Uint8Array, action: Uint8Array): Transition {
    const build = this.registry.resolve(selector);
    this.checkSizes(build, state.byteLength, action.byteLength, 1);
    try {
      return build.pool.with((instance) => {
        instance.step(state, action);
        return this.transition(build, instance);
      });
    } catch (error) {
      throw withTrapContext(error, { replay: stepReplay(build, state, action) });
    }
  }

  private checkSizes(
    build: RegisteredBuild,
    stateLength: number,
    actionLength: number,
    count: number,
  ): void {
    const { manifest } = build.cartridge;
    const envId = manifest.env_id;
    const stateBytes = count * manifest.state_bytes;
    const actionBytes = count * manifest.action_bytes;
    const per = count === 1 ? "" : ` (${count} x ${manifest.state_bytes})`;
    if (stateLength !== stateBytes) {
      throw new CallError(
        "BadState",
        `state is ${stateLength} bytes; ${envId} expects ${stateBytes}${per}`,
        envId,
      );
    }
    if (actionLength !== actionBytes) {
      const perAction = count === 1 ? "" : ` (${count} x ${manifest.action_bytes})`;
      throw new CallError(
        "BadAction",
        `action is ${actionLength} bytes; ${envId} expects ${actionBytes}${perAction}`,
        envId,
      );
    }
  }

  private transition(build: RegisteredBuild, instance: CartridgeInstance): Transition {
    const { sizes, manifest } = build.cartridge;
    const l = instance.single;
    const memory = instance.memory;
    const state = memory.slice(l.stateOut, l.stateOut + sizes.stateBytes);
    const obs = memory.slice(l.obs, l.obs + sizes.obsBytes);
    const info = readInfo(memory, l.info, manifest.players);
    const legalMask = instance.legalActions(l.stateOut).slice();
    return {
      build: buildRef(build),
      state,
      obs,
      reward: info.reward,
      terminated: info.terminated,
      truncated: info.truncated,
      currentPlayer: info.currentPlayer,
      playerRewards: info.playerRewards,
      legalMask,
    };
  }

  batchStep(selector: EnvSelector, states: Uint8Array, actions: Uint8Array): BatchTransition {
    return this.batchStepOn(this.registry.resolve(selector), states, actions);
  }

  batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options: VectorStepOptions = {},
  ): Generator<BatchTransition, void, void> {
    // Validate eagerly, so that a bad request fails at the call rather than at the first chunk.
    const build = this.checkBatchChunks(selector, states, actions, rowsPerChunk, options);
    const count = states.byteLength / build.cartridge.sizes.stateBytes;
    const seed = options.autoreset?.seed;
    return this.batchStepChunksOn(build, states, actions, count, rowsPerChunk, seed);
  }

  /** Validates a chunked batch step and resolves its build (throws `CallError`). */
  checkBatchChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options: VectorStepOptions = {},
  ): RegisteredBuild {
    const build = this.registry.resolve(selector);
    const { sizes, manifest, maxBatch } = build.cartridge;
    const envId = manifest.env_id;
    if (states.byteLength === 0 || states.byteLength % sizes.stateBytes !== 0) {
      throw new CallError(
        "BadState",
        `states are ${states.byteLength} bytes, not a positive multiple of ${envId}'s state size ${sizes.stateBytes}`,
        envId,
      );
    }
    const count = states.byteLength / sizes.stateBytes;
    this.checkSizes(build, states.byteLength, actions.byteLength, count);
    checkCount("rowsPerChunk", rowsPerChunk, maxBatch, envId);
    const autoresetSeed = options.autoreset?.seed;
    if (autoresetSeed !== undefined) checkSeed(autoresetSeed, envId);
    return build;
  }

  private *batchStepChunksOn(
    build: RegisteredBuild,
    states: Uint8Array,
    actions: Uint8Array,
    count: number,
    rowsPerChunk: number,
    autoresetSeed: bigint | undefined,
  ): Generator<BatchTransition, void, void> {
    const { stateBytes, actionBytes } = build.cartridge.sizes;
    for (let start = 0; start < count; start += rowsPerChunk) {
      const end = Math.min(count, start + rowsPerChunk);
      let chunk: BatchTransition;
      try {
        chunk = this.batchStepOn(
          build,
          states.subarray(start * stateBytes, end * stateBytes),
          actions.subarray(start * actionBytes, end * actionBytes),
          autoresetSeed === undefined ? undefined : { seed: autoresetSeed, firstIndex: start },
        );
      } catch (error) {
        // The chunk names its rows from 0; the request from the chunk's first row.
        throw offsetTrapRow(error, start);
      }
      yield chunk;
    }
  }

  resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
  ): Generator<BatchTransition, void, void> {
    // Validate eagerly, so that a bad request fails at the call rather than at the first chunk.
    const build = this.checkResetBatch(request, rowsPerChunk);
    const hints = request.hints;
    const none = new Uint8Array(0);
    const hintOf = (i: number) => hints[hints.length === 1 ? 0 : i] ?? none;
    return this.resetBatchChunksOn(build, request, rowsPerChunk, hintOf);
  }

  /** Validates a chunked vector reset and resolves its build (throws `CallError`). */
  checkResetBatch(request: VectorResetRequest, rowsPerChunk: number): RegisteredBuild {
    const build = this.registry.resolve(request);
    const { manifest, maxBatch } = build.cartridge;
    const envId = manifest.env_id;
    checkSeed(request.seed, envId);
    checkCount("count", request.count, Number.MAX_SAFE_INTEGER, envId);
    checkCount("rowsPerChunk", rowsPerChunk, maxBatch, envId);
    const hints = request.hints;
    if (hints.length > 1 && hints.length !== request.count) {
      throw new CallError(
        "BadHint",
        `${hints.length} hints for ${request.count} envs: send none, one, or one per env`,
        envId,
      );
    }
    for (const hint of hints) {
      if (hint.byteLength > manifest.hint_max_bytes) {
        throw new CallError(
          "BadHint",
          `a hint is ${hint.byteLength} bytes; ${envId} accepts at most ${manifest.hint_max_bytes}`,
          envId,
        );
      }
    }
    return build;
  }

  /**
   * Rows `start .. start + rows` of a vector reset, as `resetBatchChunks` yields them. `hints` is
   * empty, one hint for every env, or the `rows` hints of these envs. Stateless, for workers.
   */
  resetRowsAt(
    selector: EnvSelector,
    seed: bigint,
    start: number,
    rows: number,
    hints: readonly Uint8Array[],
  ): BatchTransition {
    const build = this.registry.resolve(selector);
    checkSeed(seed, build.cartridge.manifest.env_id);
    checkCount("rows", rows, build.cartridge.maxBatch, build.cartridge.manifest.env_id);
    const none = new Uint8Array(0);
    const hintOf = (i: number) => hints[hints.length === 1 ? 0 : i - start] ?? none;
    return build.pool.with((instance) =>
      resetRows(instance, buildRef(build), seed, start, rows, hintOf),
    );
  }

  /**
   * One chunk of a vector step, as `batchStepChunks` yields it: `autoreset` resets ended envs,
   * env `firstIndex + i` seeded `seed + firstIndex + i`. Stateless, for workers.
   */
  batchStepAt(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    autoreset?: { seed: bigint; firstIndex: number },
  ): BatchTransition {
    return this.batchStepOn(this.registry.resolve(selector), states, actions, autoreset);
  }

  private *resetBatchChunksOn(
    build: RegisteredBuild,
    request: VectorResetRequest,
    rowsPerChunk: number,
    hintOf: (index: number) => Uint8Array,
  ): Generator<BatchTransition, void, void> {
    for (let start = 0; start < request.count; start += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, request.count - start);
      yield build.pool.with((instance) =>
        resetRows(instance, buildRef(build), request.seed, start, rows, hintOf),
      );
    }
  }

  private batchStepOn(
    build: RegisteredBuild,
    states: Uint8Array,
    actions: Uint8Array,
    autoreset?: { seed: bigint; firstIndex: number },
  ): BatchTransition {
    const { sizes, manifest, maxBatch } = build.cartridge;
    const envId = manifest.env_id;
    if (states.byteLength % sizes.stateBytes !== 0) {
      throw new CallError(
        "BadState",
        `states are ${states.byteLength} bytes, not a multiple of ${envId}'s state size ${sizes.stateBytes}`,
        envId,
      );
    }
    const count = states.byteLength / sizes.stateBytes;
    checkCount("batch size", count, maxBatch, envId);
    this.checkSizes(build, states.byteLength, actions.byteLength, count);
    try {
      return this.batchStepPooled(build, states, actions, count, autoreset);
    } catch (error) {
      throw this.pinTrapRow(build, error, states, actions, count);
    }
  }

  /**
   * A batch trap names the first row of the cartridge call that trapped; running the rows of
   * that call one by one (a step is a function of its inputs) finds the row that traps alone,
   * whose state and action reproduce it.
   */
  private pinTrapRow(
    build: RegisteredBuild,
    error: unknown,
    states: Uint8Array,
    actions: Uint8Array,
    count: number,
  ): unknown {
    const first = error instanceof CallError ? error.trap?.row : undefined;
    if (first === undefined) return error;
    const { stateBytes, actionBytes } = build.cartridge.sizes;
    const end = Math.min(count, first + batchGroupEnvs(build.cartridge.limits));
    for (let row = first; row < end; row++) {
      const state = states.subarray(row * stateBytes, (row + 1) * stateBytes);
      const action = actions.subarray(row * actionBytes, (row + 1) * actionBytes);
      try {
        build.pool.with((instance) => instance.step(state, action));
      } catch (single) {
        if (!(single instanceof CallError) || single.trap === undefined) continue;
        return withTrapContext(single, { row, replay: stepReplay(build, state, action) });
      }
    }
    return error;
  }

  private batchStepPooled(
    build: RegisteredBuild,
    states: Uint8Array,
    actions: Uint8Array,
    count: number,
    autoreset: { seed: bigint; firstIndex: number } | undefined,
  ): BatchTransition {
    const { sizes, manifest } = build.cartridge;
    return build.pool.with((instance) => {
      const b = instance.batch;
      instance.write(b.states, states);
      instance.write(b.actions, actions);
      instance.stepBatch(count);
      const memory = instance.memory;
      const info = readInfoColumns(memory, b.infos, count, manifest.players);
      const columns = {
        states: memory.slice(b.statesOut, b.statesOut + count * sizes.stateBytes),
        obs: memory.slice(b.obs, b.obs + count * sizes.obsBytes),
        currentPlayers: info.currentPlayers,
        // Before any autoreset: the resets below reuse the single-env slots, not the batch ones.
        legalMasks: legalMasksAt(instance, b.statesOut, info.statuses),
        terminated: info.terminated,
        truncated: info.truncated,
        statuses: info.statuses,
      };
      const finals =
        autoreset === undefined
          ? {}
          : autoresetRows(instance, columns, autoreset.seed, autoreset.firstIndex);
      return {
        build: buildRef(build),
        count,
        ...columns,
        rewards: info.rewards,
        playerRewards: info.playerRewards,
        ...finals,
      };
    });
  }

  rollout(request: RolloutRequest): Generator<RolloutChunk, void, void> {
    // Validate eagerly, so that a bad request fails at the call rather than at the first chunk.
    const build = this.checkRollout(request);
    return this.rolloutChunks(build, request);
  }

  /** Validates a rollout request and resolves its build (throws `CallError`). */
  checkRollout(request: RolloutRequest): RegisteredBuild {
    const build = this.registry.resolve(request);
    const { manifest, maxRolloutSteps } = build.cartridge;
    const envId = manifest.env_id;
    checkSeed(request.seed, envId);
    checkCount("episodes", request.episodes, this.maxRolloutEpisodes, envId);
    checkCount("stepCap", request.stepCap, maxRolloutSteps, envId);
    checkCount(
      "chunkSteps",
      request.chunkSteps ?? this.defaultChunkSteps,
      this.maxChunkSteps,
      envId,
    );
    return build;
  }

  /**
   * Rows of a chunk's columns. They are allocated up front, so size them by what the request can
   * produce and by the byte budget rather than by `chunkSteps` alone, which a client chooses: a
   * one-episode request must not allocate a million rows. One episode longer than both bounds
   * still goes out whole, in a chunk of its own size.
   */
  private chunkCapacityRows(build: RegisteredBuild, request: RolloutRequest): number {
    const { sizes, manifest } = build.cartridge;
    const chunkSteps = request.chunkSteps ?? this.defaultChunkSteps;
    // The columns are allocated up front, so size them by what the request can produce and by
    // the byte budget rather than by `chunkSteps` alone, which a client chooses: a one-episode
    // request must not allocate a million rows. One episode longer than both bounds still goes
    // out whole, in a chunk of its own size.
    const rowBytes = rolloutRowBytes(
      sizes,
      manifest.players,
      request.includeObs,
      request.includeStates ?? true,
    );
    return Math.max(
      request.stepCap,
      Math.min(
        chunkSteps,
        request.episodes * request.stepCap,
        Math.floor(this.maxChunkBytes / rowBytes),
      ),
    );
  }

  private *rolloutChunks(
    build: RegisteredBuild,
    request: RolloutRequest,
  ): Generator<RolloutChunk, void, void> {
    const ref = buildRef(build);
    const { sizes, manifest } = build.cartridge;
    const capacityRows = this.chunkCapacityRows(build, request);
    const buffers = new ChunkBuffers();
    const newBuilder = () =>
      new RolloutChunkBuilder(
        ref,
        sizes,
        manifest.players,
        capacityRows,
        request.includeObs,
        request.includeStates ?? true,
        buffers.take(),
      );
    const finish = (done: RolloutChunkBuilder) => buffers.releasable(done.finish(), done.buffer);
    let builder = newBuilder();
    for (let episode = 0; episode < request.episodes; episode++) {
      const seed = (request.seed + BigInt(episode)) % SEED_LIMIT;
      // The instance is held only while one episode runs and is copied out, never across a
      // yield, so a full chunk is handed out only after the episode is safely packed.
      let full: RolloutChunk | undefined;
      this.rolloutEpisode(build, request, episode, seed, (instance, rows) => {
        if (!builder.fits(rows)) {
          full = finish(builder);
          builder = newBuilder();
        }
        builder.appendEpisode(instance.memory, instance.rolloutArrays, episode, rows);
      });
      if (full !== undefined) yield full;
    }
    if (builder.rows > 0) yield finish(builder);
  }

  /** Plays one episode in the cartridge and hands its rows to `use`; a trap names the episode. */
  private rolloutEpisode<T>(
    build: RegisteredBuild,
    request: RolloutRequest,
    episode: number,
    seed: bigint,
    use: (instance: CartridgeInstance, rows: number) => T,
  ): T {
    return build.pool.with((instance) =>
      this.rolloutEpisodeOn(instance, build, request, episode, seed, use),
    );
  }

  /** `rolloutEpisode` on an instance the caller holds. */
  private rolloutEpisodeOn<T>(
    instance: CartridgeInstance,
    build: RegisteredBuild,
    request: RolloutRequest,
    episode: number,
    seed: bigint,
    use: (instance: CartridgeInstance, rows: number) => T,
  ): T {
    try {
      return use(instance, instance.rollout(seed, request.stepCap, request.includeObs));
    } catch (error) {
      throw withTrapContext(error, {
        seed: seed.toString(),
        episode,
        replay: `BatchSimulate ${replayId(build)} rollouts seed=${seed} episodes=1 step_cap=${request.stepCap}`,
      });
    }
  }

  /**
   * The chunk of `request` that starts at episode `first`: exactly the chunk `rollout` yields
   * there (whole episodes, until the next would not fit), and the episode the next chunk starts
   * at (`request.episodes` after the last). Stateless, so that any worker can produce any chunk;
   * the episode that did not fit is run again for the next chunk, which replays it exactly.
   * `reuse`, a released chunk's buffer of the same call, holds the columns if its size fits.
   */
  rolloutChunkAt(
    request: RolloutRequest,
    first: number,
    reuse?: ArrayBuffer,
  ): { chunk: RolloutChunk; next: number } {
    const build = this.checkRollout(request);
    const { sizes, manifest } = build.cartridge;
    const builder = new RolloutChunkBuilder(
      buildRef(build),
      sizes,
      manifest.players,
      this.chunkCapacityRows(build, request),
      request.includeObs,
      request.includeStates ?? true,
      reuse,
    );
    // One instance for the whole chunk: nothing yields in between, and a trap ends the chunk.
    const next = build.pool.with((instance) => {
      let episode = first;
      for (; episode < request.episodes; episode++) {
        const seed = (request.seed + BigInt(episode)) % SEED_LIMIT;
        const appended = this.rolloutEpisodeOn(
          instance,
          build,
          request,
          episode,
          seed,
          (_, rows) => {
            if (!builder.fits(rows)) return false;
            builder.appendEpisode(instance.memory, instance.rolloutArrays, episode, rows);
            return true;
          },
        );
        if (!appended) break;
      }
      return episode;
    });
    return { chunk: builder.finish(), next };
  }
}
