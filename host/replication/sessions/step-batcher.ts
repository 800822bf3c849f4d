import type { Engine, EnvSelector, StepItem, Transition } from "../../runtime/engine.js";

interface Group {
  readonly selector: EnvSelector;
  readonly items: StepItem[];
  readonly waiters: { resolve(value: Transition): void; reject(error: unknown): void }[];
}

/**
 * Gathers the guest steps that start in one turn of the microtask queue (the steps of different
 * sessions of one slot, see `SessionsPart.applyRun`) and sends them to the runtime as one
 * `stepEach` per build: a worker pool then makes one round trip for all of them instead of one
 * per step. Each step still runs and is metered alone, so its outcome is exactly a lone step's;
 * only the time it takes changes.
 */
export class StepBatcher {
  private groups = new Map<string, Group>();
  private scheduled = false;

  constructor(private readonly runtime: Engine) {}

  /** Like `runtime.step`: the transition, or the step's own `CallError`. */
  step(selector: EnvSelector, state: Uint8Array, action: Uint8Array): Promise<Transition> {
    const key = `${selector.envId}\u0000${selector.buildId ?? ""}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { selector, items: [], waiters: [] };
      this.groups.set(key, group);
    }
    const items = group.items;
    const waiters = group.waiters;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve, reject) => {
      items.push({ state, action });
      waiters.push({ resolve, reject });
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = this.groups;
    this.groups = new Map();
    for (const { selector, items, waiters } of groups.values()) {
      const [item] = items;
      const [waiter] = waiters;
      if (items.length === 1 && item !== undefined && waiter !== undefined) {
        this.runtime.step(selector, item.state, item.action).then(waiter.resolve, waiter.reject);
        continue;
      }
      this.runtime.stepEach(selector, items).then(
        (outcomes) => {
          waiters.forEach((each, i) => {
            const outcome = outcomes[i];
            if (outcome === undefined) each.reject(new Error("stepEach lost an item"));
            else if (outcome.ok) each.resolve(outcome.transition);
            else each.reject(outcome.error);
          });
        },
        (error: unknown) => {
          for (const each of waiters) each.reject(error);
        },
      );
    }
  }
}
