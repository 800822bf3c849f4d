import type { ConsensusEngine } from "../consensus/engine/engine.js";
import { CallError } from "../runtime/errors.js";
import type { ReadOptions } from "./console.js";
import { ReplicationError } from "./errors.js";

/**
 * Waits until `consensus` applied `options.minAppliedIndex` on this node, or the signal aborts
 * (then it rejects with a `CallError` code `Cancelled`). Resolves at once without an index.
 */
export async function waitApplied(consensus: ConsensusEngine, options: ReadOptions): Promise<void> {
  const target = options.minAppliedIndex;
  if (target === undefined || target <= consensus.lastAppliedIndex()) return;
  if (!Number.isSafeInteger(target) || target < 0) {
    throw new ReplicationError("BadArgument", "min applied index must be a non-negative integer");
  }
  const signal = options.signal;
  signal?.throwIfAborted();
  const applied = consensus.waitForCommit(target);
  if (signal === undefined) return applied;
  // The race below may settle first; the engine stopping later must not be an unhandled rejection.
  applied.catch(() => undefined);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new CallError("Cancelled", `not applied up to ${target} in time`));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([applied, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
  }
}
