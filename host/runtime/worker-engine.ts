import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CartridgeEngine, type EngineOptions } from "./cartridge-engine.js";
import type {
  BatchTransition,
  CallOptions,
  Engine,
  EnvCapabilities,
  EnvSelector,
  RolloutChunk,
  RolloutRequest,
  StepItem,
  StepItemOutcome,
  Transition,
  VectorResetRequest,
  VectorStepOptions,
} from "./engine.js";
import { CallError } from "./errors.js";
import { throwIfCancelled } from "./inline-engine.js";
import { InlineSlice } from "./inline-slice.js";
import type { LoadedCartridge } from "./loader.js";
import type { Registry } from "./registry.js";
import { ChunkBuffers } from "./rollout-chunks.js";
import { offsetTrapRow } from "./trap-report.js";
import { UnaryChannel } from "./unary-channel.js";
import { Watchdog } from "./watchdog.js";
import { checkWorkerNice, DEFAULT_WORKER_NICE } from "./worker-nice.js";
import {
  type FromWorker,
  fromWireError,
  type GuestCall,
  type GuestWorkerData,
  ownCopy,
  type ToWorker,
  transferablesOf,
  type WireError,
} from "./worker-protocol.js";
import { workerSource } from "./worker-source.js";

/** Options of the worker pool. */
export interface WorkerEngineOptions extends EngineOptions {
  /** Worker threads running guest code (default: one per core). */
  readonly workers?: number;
  /**
   * Further worker threads kept for unary calls (step, reset, stepEach, batch step; default 1),
   * not niced: with every bulk worker running a stream chunk, a Step still finds a worker free
   * instead of waiting for a chunk to end. A unary call also takes an idle bulk worker when the
   * unary ones are busy. 0 makes unary calls share the bulk workers (ahead of chunks in the queue).
   */
  readonly unaryWorkers?: number;
  /**
   * Wall-clock watchdog per call into a worker, in ms (default 5,000). Fuel stops ordinary
   * runaways within milliseconds; a call still running at this deadline (code that is slow per
   * fuel unit, such as a cache-missing pointer chase with a raised budget) has its worker
   * terminated and replaced, and only that call fails, with `Timeout`.
   */
  readonly callTimeoutMs?: number;
  /**
   * How long a call whose client cancelled may keep running before its worker is terminated, in
   * ms (default 50): long enough for an ordinary call to finish, so cancellation rarely costs a
   * worker restart.
   */
  readonly cancelGraceMs?: number;
  /**
   * Fuel slice with which a unary step or reset first runs on the caller's thread before it is
   * handed to a worker with the full budget (inline-slice.ts says why that is safe); 0 sends
   * every call to a worker. Default 0: guest code never runs on the event loop unless the
   * operator opts in (`cartridge serve --inline-slice-fuel N`); 10,000 units is about 2 to 10
   * times what a bundled game's step or reset uses, and well under a millisecond of guest code,
   * and saves the worker hop (two thread wake-ups) on every unary call.
   */
  readonly inlineSliceFuel?: number;
  /**
   * Scheduling niceness of the worker threads (Linux; default 10, 0 leaves them as they are).
   * With every core busy running stream chunks, the thread that serves gRPC would otherwise
   * queue behind the workers for CPU time, and a Step's latency with it; a nicer worker yields
   * to it and still gets every cycle the gRPC thread does not use.
   */
  readonly workerNice?: number;
}

/** Default of `WorkerEngineOptions.workerNice`. */
export { DEFAULT_WORKER_NICE };

/** Default of `WorkerEngineOptions.unaryWorkers`. */
export const DEFAULT_UNARY_WORKERS = 1;

/** Most worker threads of each kind a pool starts (bulk, and unary-only). */
export const MAX_WORKERS = 256;
export const MAX_UNARY_WORKERS = 16;

/** Default of `WorkerEngineOptions.inlineSliceFuel`: off (guest code stays off the event loop). */
export const DEFAULT_INLINE_SLICE_FUEL = 0;

/** What the pool is doing, for metrics (read at each scrape). */
export interface WorkerPoolUse {
  /** Worker threads, the unary ones included. */
  readonly workers: number;
  /** Worker threads kept for unary calls. */
  readonly unaryWorkers: number;
  /** Workers running a call. */
  readonly busy: number;
  /** Calls waiting for a worker, by lane. */
  readonly queuedUnary: number;
  readonly queuedBulk: number;
  /** Workers terminated and replaced (timeout, cancellation, crash) since the start. */
  readonly replaced: number;
  /** Builds dropped from the workers after the registry let them go, since the start. */
  readonly evictedBuilds: number;
  /** Unary calls answered by the inline slice, and those it handed on to a worker. */
  readonly inlineCalls: number;
  readonly handedOnCalls: number;
}

/** Unary calls go ahead of stream chunks, so a Step waits for at most one chunk per worker. */
type Lane = "unary" | "bulk";

interface Job {
  readonly id: number;
  /** Removes the job's queue-cancellation listener from its signal. */
  detach: () => void;
  readonly call: GuestCall;
  readonly cartridge: LoadedCartridge;
  readonly transfer: ArrayBuffer[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  /** Kept for unary calls (never takes a stream chunk), and not niced. */
  readonly unary: boolean;
  worker: Worker;
  /** Rung after every message to `worker`, which sleeps on it between calls; carries Steps. */
  channel: UnaryChannel;
  /** False until the worker has started up: the watchdog must not count its start-up time. */
  ready: boolean;
  /** Build ids this worker has been sent. */
  builds: Set<string>;
  running: Job | undefined;
  /** Watches the running job's deadline (the watchdog, or the grace of a cancelled call). */
  readonly watchdog: Watchdog;
  onAbort: (() => void) | undefined;
}

/**
 * The `Engine` over a pool of worker threads: guest code never runs on the caller's thread. The
 * registry (loading, metadata, request validation) stays on the main thread; each call is a job
 * that an idle worker takes from a queue (unary calls first), with its input bytes copied once
 * and transferred, and its results transferred back. Streams pull one chunk per job, statelessly
 * (rollout chunk `k` starts at the episode chunk `k - 1` ended at), with one chunk prefetched, so
 * any worker can serve any chunk, the bytes never depend on the number of workers, and losing a
 * worker loses only the job it was running.
 *
 * A job past `callTimeoutMs`, or cancelled and still running after `cancelGraceMs`, has its
 * worker terminated and replaced; only that job fails (`Timeout`, `Cancelled`).
 */
export class WorkerEngine implements Engine {
  /** Validation and metadata, on the main thread; it never runs guest code here. */
  private readonly local: CartridgeEngine;
  private readonly slots: Slot[] = [];
  private readonly queues: Record<Lane, Job[]> = { unary: [], bulk: [] };
  private readonly callTimeoutMs: number;
  private readonly cancelGraceMs: number;
  /** What every worker is started with, but for its channel. */
  private readonly workerData: Omit<GuestWorkerData, "channel">;
  private nextId = 1;
  private readyWaiters: (() => void)[] = [];
  private closed = false;
  /** Workers replaced after a timeout, a cancellation or a crash (for tests and metrics). */
  replacedWorkers = 0;
  /** The unary fast path; undefined when `inlineSliceFuel` is 0. */
  readonly inline: InlineSlice | undefined;
  /** Builds dropped from the workers after the registry let them go (for tests and metrics). */
  evictedBuilds = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly registry: Registry,
    options: WorkerEngineOptions = {},
  ) {
    this.local = new CartridgeEngine(registry, options);
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.cancelGraceMs = options.cancelGraceMs ?? 50;
    const sliceFuel = options.inlineSliceFuel ?? DEFAULT_INLINE_SLICE_FUEL;
    this.inline = sliceFuel === 0 ? undefined : new InlineSlice(sliceFuel);
    this.workerData = {
      engine: {
        ...(options.maxRolloutEpisodes === undefined
          ? {}
          : { maxRolloutEpisodes: options.maxRolloutEpisodes }),
        ...(options.maxChunkBytes === undefined ? {} : { maxChunkBytes: options.maxChunkBytes }),
      },
      nice: options.workerNice ?? DEFAULT_WORKER_NICE,
      maxIdleInstanceBytes: registry.idle.maxBytes,
    };
    checkWorkerNice(this.workerData.nice);
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
      throw new RangeError(`workers must be an integer in 1..${MAX_WORKERS}, got ${count}`);
    }
    const unaryCount = options.unaryWorkers ?? DEFAULT_UNARY_WORKERS;
    if (!Number.isInteger(unaryCount) || unaryCount < 0 || unaryCount > MAX_UNARY_WORKERS) {
      throw new RangeError(
        `unaryWorkers must be an integer in 0..${MAX_UNARY_WORKERS}, got ${unaryCount}`,
      );
    }
    // Unary workers first: dispatch offers a unary call to them before any bulk worker.
    for (let i = 0; i < unaryCount; i++) this.slots.push(this.spawn(true));
    for (let i = 0; i < count; i++) this.slots.push(this.spawn(false));
    // Workers keep every build they were sent; when the registry drops one (a reload past
    // `maxBuildsPerEnv`, a removed file), the workers drop it too.
    this.unsubscribe = registry.on(() => this.evictRetiredBuilds());
  }

  /** What the pool is doing right now. */
  poolUse(): WorkerPoolUse {
    return {
      workers: this.slots.length,
      unaryWorkers: this.slots.filter((slot) => slot.unary).length,
      busy: this.runningCalls,
      queuedUnary: this.queues.unary.length,
      queuedBulk: this.queues.bulk.length,
      replaced: this.replacedWorkers,
      evictedBuilds: this.evictedBuilds,
      inlineCalls: this.inline?.counts.inline ?? 0,
      handedOnCalls: this.inline?.counts.handedOn ?? 0,
    };
  }

  /**
   * Tells each worker to drop the builds the registry no longer keeps. A call already queued on
   * such a build still runs: `start` sends the build again to the worker that takes it.
   */
  private evictRetiredBuilds(): void {
    const kept = new Set<string>();
    for (const env of this.registry.list()) {
      for (const build of this.registry.builds(env.envId)) kept.add(build.buildId);
    }
    for (const slot of this.slots) {
      const retired = [...slot.builds].filter((buildId) => !kept.has(buildId));
      if (retired.length === 0) continue;
      for (const buildId of retired) slot.builds.delete(buildId);
      this.evictedBuilds += retired.length;
      this.post(slot, { kind: "evict", buildIds: retired });
    }
  }

  /** Number of worker threads, the unary ones included. */
  get workers(): number {
    return this.slots.length;
  }

  /** Calls running in a worker right now (for tests and metrics). */
  get runningCalls(): number {
    return this.slots.filter((slot) => slot.running !== undefined).length;
  }

  /** Resolves once every worker has started up (calls made before then wait in the queue). */
  async ready(): Promise<void> {
    while (!this.closed && this.slots.some((slot) => !slot.ready)) {
      await new Promise<void>((resolve) => this.readyWaiters.push(resolve));
    }
  }

  private spawn(unary: boolean): Slot {
    const slot: Slot = {
      unary,
      worker: undefined as unknown as Worker,
      channel: undefined as unknown as UnaryChannel,
      ready: false,
      builds: new Set(),
      running: undefined,
      watchdog: new Watchdog((error) => this.replace(slot, error)),
      onAbort: undefined,
    };
    this.attachWorker(slot);
    return slot;
  }

  /** Starts a fresh worker for `slot`; events of the slot's earlier workers are ignored. */
  private attachWorker(slot: Slot): void {
    const source = workerSource("guest-worker");
    const channel = new UnaryChannel();
    const workerData: GuestWorkerData = {
      ...this.workerData,
      // A unary worker is not niced: it must not queue behind anything for CPU time.
      nice: slot.unary ? 0 : this.workerData.nice,
      channel: channel.buffer,
    };
    const worker = new Worker(source.code, { eval: source.eval, workerData });
    worker.unref();
    slot.worker = worker;
    slot.channel = channel;
    slot.ready = false;
    slot.builds = new Set();
    const current = () => slot.worker === worker && !this.closed;
    worker.on("message", (reply: FromWorker) => {
      if (!current()) return;
      if (reply.kind === "ready") {
        slot.ready = true;
        for (const wake of this.readyWaiters.splice(0)) wake();
        this.dispatch();
      } else {
        this.settle(slot, reply);
      }
    });
    worker.on("error", (error) => {
      if (current()) this.replace(slot, new Error(`guest worker crashed: ${error.message}`));
    });
    worker.on("exit", () => {
      if (current()) this.replace(slot, new Error("guest worker exited unexpectedly"));
    });
  }

  /** Terminates every worker; queued and running calls fail with `Cancelled`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    const closing = new CallError("Cancelled", "the engine is shutting down");
    for (const lane of Object.values(this.queues)) {
      for (const job of lane.splice(0)) job.reject(closing);
    }
    await Promise.all(
      this.slots.map(async (slot) => {
        const job = this.finishSlot(slot);
        slot.watchdog.stop();
        slot.channel.abandon();
        job?.reject(closing);
        await slot.worker.terminate();
      }),
    );
  }

  listEnvs(): EnvCapabilities[] {
    return this.local.listEnvs();
  }

  capabilities(selector: EnvSelector): EnvCapabilities {
    return this.local.capabilities(selector);
  }

  async reset(
    selector: EnvSelector,
    seed: bigint,
    hint?: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition> {
    const build = this.registry.resolve(selector);
    if (this.inline !== undefined && !this.closed) {
      throwIfCancelled(options?.signal, build.cartridge.manifest.env_id);
      const done = this.inline.reset(build, seed, hint);
      if (done !== undefined) return done;
    }
    const call: GuestCall = {
      op: "reset",
      selector: pin(build.cartridge),
      seed,
      ...(hint === undefined ? {} : { hint: ownCopy(hint) }),
    };
    return (await this.run(call, build.cartridge, options?.signal, "unary")) as Transition;
  }

  async step(
    selector: EnvSelector,
    state: Uint8Array,
    action: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition> {
    const build = this.registry.resolve(selector);
    if (this.inline !== undefined && !this.closed) {
      throwIfCancelled(options?.signal, build.cartridge.manifest.env_id);
      const done = this.inline.step(build, state, action);
      if (done !== undefined) return done;
    }
    const call: GuestCall = {
      op: "step",
      selector: pin(build.cartridge),
      state: ownCopy(state),
      action: ownCopy(action),
    };
    return (await this.run(call, build.cartridge, options?.signal, "unary")) as Transition;
  }

  async stepEach(
    selector: EnvSelector,
    items: readonly StepItem[],
    options?: CallOptions,
  ): Promise<StepItemOutcome[]> {
    const build = this.registry.resolve(selector);
    const call: GuestCall = {
      op: "stepEach",
      selector: pin(build.cartridge),
      items: items.map((item) => ({ state: ownCopy(item.state), action: ownCopy(item.action) })),
    };
    const outcomes = (await this.run(call, build.cartridge, options?.signal, "unary")) as (
      | { ok: true; transition: Transition }
      | { ok: false; error: WireError }
    )[];
    return outcomes.map((outcome) =>
      outcome.ok ? outcome : { ok: false, error: itemError(outcome.error) },
    );
  }

  async batchStep(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    options?: CallOptions,
  ): Promise<BatchTransition> {
    const build = this.registry.resolve(selector);
    const call: GuestCall = {
      op: "batchStep",
      selector: pin(build.cartridge),
      states: ownCopy(states),
      actions: ownCopy(actions),
    };
    return (await this.run(call, build.cartridge, options?.signal, "unary")) as BatchTransition;
  }

  batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options: VectorStepOptions & CallOptions = {},
  ): AsyncGenerator<BatchTransition, void, void> {
    const build = this.local.checkBatchChunks(selector, states, actions, rowsPerChunk, options);
    const seed = options.autoreset?.seed;
    const { cartridge } = build;
    const { stateBytes, actionBytes } = cartridge.sizes;
    const count = states.byteLength / stateBytes;
    const chunkAt = (start: number) => {
      const end = Math.min(count, start + rowsPerChunk);
      const call: GuestCall = {
        op: "batchStep",
        selector: pin(cartridge),
        states: ownCopy(states.subarray(start * stateBytes, end * stateBytes)),
        actions: ownCopy(actions.subarray(start * actionBytes, end * actionBytes)),
        ...(seed === undefined ? {} : { autoreset: { seed, firstIndex: start } }),
      };
      return { call, next: end };
    };
    return this.prefetched<BatchTransition>(
      cartridge,
      options.signal,
      (start) => (start < count ? chunkAt(start) : undefined),
      (_value, start) => Math.min(count, start + rowsPerChunk),
      undefined,
      // A worker names the rows of its chunk from 0; the request from the chunk's first row.
      offsetTrapRow,
    );
  }

  resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
    options?: CallOptions,
  ): AsyncGenerator<BatchTransition, void, void> {
    const build = this.local.checkResetBatch(request, rowsPerChunk);
    const { cartridge } = build;
    const { hints, count } = request;
    const chunkAt = (start: number) => {
      const rows = Math.min(rowsPerChunk, count - start);
      const call: GuestCall = {
        op: "resetRows",
        selector: pin(cartridge),
        seed: request.seed,
        start,
        rows,
        hints: (hints.length <= 1 ? hints : hints.slice(start, start + rows)).map(ownCopy),
      };
      return { call, next: start + rows };
    };
    return this.prefetched<BatchTransition>(
      cartridge,
      options?.signal,
      (start) => (start < count ? chunkAt(start) : undefined),
      (_value, start) => Math.min(count, start + rowsPerChunk),
    );
  }

  rollout(
    request: RolloutRequest,
    options?: CallOptions,
  ): AsyncGenerator<RolloutChunk, void, void> {
    const build = this.local.checkRollout(request);
    const { cartridge } = build;
    const pinned: RolloutRequest = { ...request, ...pin(cartridge) };
    // Released chunks' buffers travel back to the worker that builds a later chunk.
    const buffers = new ChunkBuffers();
    return this.prefetched<RolloutChunk>(
      cartridge,
      options?.signal,
      (first) => {
        if (first >= request.episodes) return undefined;
        const reuse = buffers.take();
        const call: GuestCall = {
          op: "rolloutChunk",
          request: pinned,
          first,
          ...(reuse === undefined ? {} : { reuse }),
        };
        return { call, next: undefined };
      },
      (value) => (value as unknown as { next: number }).next,
      (value) => {
        const { chunk } = value as unknown as { chunk: RolloutChunk };
        return buffers.releasable(chunk, chunk.episodes.buffer as ArrayBuffer);
      },
    );
  }

  /**
   * Runs a stream's jobs one after another, keeping the next one queued while the caller handles
   * the current result. `plan(position)` is the job at a position (undefined at the end); the
   * next position is known up front (vector) or from the result (`advance`, rollouts).
   */
  private async *prefetched<T>(
    cartridge: LoadedCartridge,
    signal: AbortSignal | undefined,
    plan: (position: number) => { call: GuestCall; next: number | undefined } | undefined,
    advance: (value: unknown, position: number) => number,
    unwrap: (value: unknown) => T = (value) => value as T,
    relocate: (error: unknown, position: number) => unknown = (error) => error,
  ): AsyncGenerator<T, void, void> {
    // Aborted when the consumer stops early, so a prefetched job does not run for nobody.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const start = (position: number) => {
      const job = plan(position);
      if (job === undefined) return undefined;
      const promise = this.run(job.call, cartridge, stop.signal, "bulk");
      // A prefetched job that fails is reported when it is awaited, not as unhandled.
      promise.catch(() => undefined);
      return { promise, position, next: job.next };
    };
    try {
      throwIfCancelled(signal, cartridge.manifest.env_id);
      let pending = start(0);
      while (pending !== undefined) {
        const position = pending.position;
        const value = await pending.promise.catch((error: unknown) => {
          throw relocate(error, position);
        });
        const next = pending.next ?? advance(value, pending.position);
        pending = start(next);
        yield unwrap(value);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      stop.abort();
    }
  }

  /** Queues a job; resolves with the worker's result or rejects with its typed error. */
  private run(
    call: GuestCall,
    cartridge: LoadedCartridge,
    signal: AbortSignal | undefined,
    lane: Lane,
  ): Promise<unknown> {
    const envId = cartridge.manifest.env_id;
    if (this.closed) {
      return Promise.reject(new CallError("Cancelled", "the engine is shutting down", envId));
    }
    if (signal?.aborted === true) {
      return Promise.reject(new CallError("Cancelled", "the call was cancelled", envId));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        detach: () => undefined,
        call,
        cartridge,
        // Depth 3 reaches the arrays of `stepEach` items.
        transfer: transferablesOf(call, 3),
        signal,
        resolve,
        reject,
      };
      this.queues[lane].push(job);
      if (signal !== undefined) {
        const onAbort = () => this.cancelQueued(job, lane);
        signal.addEventListener("abort", onAbort, { once: true });
        job.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.dispatch();
    });
  }

  private cancelQueued(job: Job, lane: Lane): void {
    const queue = this.queues[lane];
    const at = queue.indexOf(job);
    if (at < 0) return; // running (its slot handles the abort) or done
    queue.splice(at, 1);
    job.reject(new CallError("Cancelled", "the call was cancelled", job.cartridge.manifest.env_id));
  }

  /**
   * Hands queued jobs to idle workers: unary calls to the unary workers first (they come first
   * in `slots`), then to any idle bulk worker; stream chunks to bulk workers only.
   */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.running !== undefined || !slot.ready) continue;
      const job = this.queues.unary.shift() ?? (slot.unary ? undefined : this.queues.bulk.shift());
      if (job === undefined) {
        if (this.queues.bulk.length === 0) return;
        continue;
      }
      this.start(slot, job);
    }
  }

  private start(slot: Slot, job: Job): void {
    job.detach();
    const { cartridge } = job;
    if (!slot.builds.has(cartridge.buildId)) {
      this.post(slot, { kind: "build", cartridge });
      slot.builds.add(cartridge.buildId);
    }
    slot.running = job;
    slot.worker.ref();
    const envId = cartridge.manifest.env_id;
    slot.watchdog.arm(
      performance.now() + this.callTimeoutMs,
      () =>
        new CallError(
          "Timeout",
          `the call ran past the ${this.callTimeoutMs} ms watchdog; its worker was replaced`,
          envId,
        ),
    );
    if (job.signal !== undefined) {
      const onAbort = () => {
        slot.watchdog.shorten(
          performance.now() + this.cancelGraceMs,
          () => new CallError("Cancelled", "the call was cancelled while running", envId),
        );
      };
      slot.onAbort = onAbort;
      job.signal.addEventListener("abort", onAbort, { once: true });
    }
    const { call } = job;
    // A Step or Reset goes through the channel when it fits.
    if (call.op === "step" || call.op === "reset") {
      const ticket = slot.channel.send(job.id, call);
      if (ticket !== undefined) {
        this.awaitAnswer(slot, job, ticket);
        return;
      }
    }
    this.post(slot, { kind: "call", id: job.id, call }, job.transfer);
  }

  /** Settles a call sent through the channel once the worker answers it there. */
  private awaitAnswer(slot: Slot, job: Job, ticket: number): void {
    const { channel } = slot;
    // Posted answers (failures, transitions too big) and jobs already failed settle elsewhere.
    const wanted = () => slot.channel === channel && slot.running === job;
    void channel.answer(ticket, pin(job.cartridge), wanted).then((transition) => {
      if (transition !== undefined && wanted()) {
        this.settle(slot, { kind: "result", id: job.id, ok: true, value: transition });
      }
    });
  }

  /** Every message to a worker goes through here, so its doorbell rings after each one. */
  private post(slot: Slot, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    slot.worker.postMessage(message, transfer);
    slot.channel.ring();
  }

  /** Clears a slot's job and timers; returns the job it was running. */
  private finishSlot(slot: Slot): Job | undefined {
    const job = slot.running;
    slot.watchdog.disarm();
    if (job?.signal !== undefined && slot.onAbort !== undefined) {
      job.signal.removeEventListener("abort", slot.onAbort);
    }
    slot.onAbort = undefined;
    slot.running = undefined;
    slot.worker.unref();
    return job;
  }

  private settle(slot: Slot, reply: Extract<FromWorker, { kind: "result" }>): void {
    if (slot.running?.id !== reply.id) return; // a late reply from a job already failed
    const job = this.finishSlot(slot);
    if (reply.ok) job?.resolve(reply.value);
    else job?.reject(fromWireError(reply.error));
    this.dispatch();
  }

  /** Terminates a slot's worker, fails its job with `error` and puts a fresh worker in its place. */
  private replace(slot: Slot, error: Error): void {
    const job = this.finishSlot(slot);
    const old = slot.worker;
    slot.channel.abandon();
    this.replacedWorkers += 1;
    if (!this.closed) this.attachWorker(slot);
    void old.terminate();
    job?.reject(error);
    this.dispatch();
  }
}

function pin(cartridge: LoadedCartridge): { envId: string; buildId: string } {
  return { envId: cartridge.manifest.env_id, buildId: cartridge.buildId };
}

/** An item's failure as the worker sent it: always typed (an untyped one fails the whole call). */
function itemError(error: WireError): CallError {
  const typed = fromWireError(error);
  if (typed instanceof CallError) return typed;
  throw typed;
}
