import { setImmediate as nextTurn } from "node:timers/promises";
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
  SyncEngine,
  Transition,
  VectorResetRequest,
  VectorStepOptions,
} from "./engine.js";
import { CallError } from "./errors.js";

/** Throws `Cancelled` when the call's signal has aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined, envId?: string): void {
  if (signal?.aborted === true) {
    throw new CallError("Cancelled", "the call was cancelled before it finished", envId);
  }
}

/**
 * Pulls a synchronous chunk generator as an async one: checks the signal before each chunk and
 * yields to the event loop after each, so other callers make progress between chunks.
 */
async function* paced<T>(
  chunks: Generator<T, void, void>,
  signal: AbortSignal | undefined,
  envId: string,
): AsyncGenerator<T, void, void> {
  try {
    for (;;) {
      throwIfCancelled(signal, envId);
      const next = chunks.next();
      if (next.done === true) return;
      yield next.value;
      await nextTurn();
    }
  } finally {
    chunks.return();
  }
}

/**
 * The asynchronous `Engine` over a `SyncEngine` on the calling thread. Guest code still runs on
 * this thread (fuel bounds each call), so it suits tests, tools and embedding; the server runs
 * cartridges in a worker pool instead. Each call checks its signal before it starts and between
 * chunks.
 */
export class InlineEngine implements Engine {
  constructor(readonly core: SyncEngine) {}

  listEnvs(): EnvCapabilities[] {
    return this.core.listEnvs();
  }

  capabilities(selector: EnvSelector): EnvCapabilities {
    return this.core.capabilities(selector);
  }

  async reset(
    selector: EnvSelector,
    seed: bigint,
    hint?: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition> {
    throwIfCancelled(options?.signal, selector.envId);
    return this.core.reset(selector, seed, hint);
  }

  async step(
    selector: EnvSelector,
    state: Uint8Array,
    action: Uint8Array,
    options?: CallOptions,
  ): Promise<Transition> {
    throwIfCancelled(options?.signal, selector.envId);
    return this.core.step(selector, state, action);
  }

  async stepEach(
    selector: EnvSelector,
    items: readonly StepItem[],
    options?: CallOptions,
  ): Promise<StepItemOutcome[]> {
    throwIfCancelled(options?.signal, selector.envId);
    this.core.capabilities(selector);
    return items.map((item) => stepItem(this.core, selector, item));
  }

  async batchStep(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    options?: CallOptions,
  ): Promise<BatchTransition> {
    throwIfCancelled(options?.signal, selector.envId);
    return this.core.batchStep(selector, states, actions);
  }

  batchStepChunks(
    selector: EnvSelector,
    states: Uint8Array,
    actions: Uint8Array,
    rowsPerChunk: number,
    options: VectorStepOptions & CallOptions = {},
  ): AsyncGenerator<BatchTransition, void, void> {
    const vector = options.autoreset === undefined ? {} : { autoreset: options.autoreset };
    const chunks = this.core.batchStepChunks(selector, states, actions, rowsPerChunk, vector);
    return paced(chunks, options.signal, selector.envId);
  }

  resetBatchChunks(
    request: VectorResetRequest,
    rowsPerChunk: number,
    options?: CallOptions,
  ): AsyncGenerator<BatchTransition, void, void> {
    const chunks = this.core.resetBatchChunks(request, rowsPerChunk);
    return paced(chunks, options?.signal, request.envId);
  }

  rollout(
    request: RolloutRequest,
    options?: CallOptions,
  ): AsyncGenerator<RolloutChunk, void, void> {
    return paced(this.core.rollout(request), options?.signal, request.envId);
  }
}

/** One item of `stepEach` on a synchronous engine: its transition, or its `CallError`. */
export function stepItem(
  engine: SyncEngine,
  selector: EnvSelector,
  item: StepItem,
): StepItemOutcome {
  try {
    return { ok: true, transition: engine.step(selector, item.state, item.action) };
  } catch (error) {
    if (error instanceof CallError) return { ok: false, error };
    throw error;
  }
}
