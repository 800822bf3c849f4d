import { status } from "@grpc/grpc-js";
import type { ReadOptions } from "../replication/console.js";
import { ReplicationError } from "../replication/errors.js";
import { StatusError } from "./status.js";

/** A read's wait for this node to catch up, bounded; see `readWait`. */
export interface ReadWait {
  /** What to pass to the console's read. */
  readonly options: ReadOptions;
  /**
   * The error to answer: a wait cut short by the server's bound becomes DEADLINE_EXCEEDED, one
   * cut short by the call's end CANCELLED.
   */
  explain(error: unknown): unknown;
  /** Stops the bound's timer; call it once the read is done. */
  dispose(): void;
}

/**
 * Options of a session read that waits until this node applied `minAppliedIndex` (the `index` a
 * write returned), for read-your-writes on any node. The wait ends when the call ends (`signal`)
 * or after `maxWaitMs`, whichever comes first, so that a read naming a slot this node never
 * reaches (a wrong index, a partitioned node) cannot hold a call forever.
 */
export function readWait(
  signal: AbortSignal,
  minAppliedIndex: bigint,
  maxWaitMs: number,
): ReadWait {
  if (minAppliedIndex > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ReplicationError("BadArgument", "min_applied_index must be at most 2^53 - 1");
  }
  const target = Number(minAppliedIndex);
  if (target === 0) {
    return { options: { signal }, explain: (error) => error, dispose: () => undefined };
  }
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), maxWaitMs);
  const onCallGone = () => bound.abort();
  signal.addEventListener("abort", onCallGone, { once: true });
  if (signal.aborted) bound.abort();
  return {
    options: { minAppliedIndex: target, signal: bound.signal },
    explain: (error) => {
      if (!bound.signal.aborted) return error;
      if (signal.aborted) return new StatusError(status.CANCELLED, "the call ended while waiting");
      return new StatusError(
        status.DEADLINE_EXCEEDED,
        `this node had not applied slot ${target} within ${maxWaitMs} ms; retry, or ask the leader`,
      );
    },
    dispose: () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onCallGone);
    },
  };
}

/**
 * Runs a read of this node's applied state with a bounded wait for `minAppliedIndex` (see
 * `readWait`), mapping a wait cut short to the status it deserves.
 */
export async function waitedRead<T>(
  signal: AbortSignal,
  minAppliedIndex: bigint,
  maxWaitMs: number,
  read: (options: ReadOptions) => Promise<T>,
): Promise<T> {
  const wait = readWait(signal, minAppliedIndex, maxWaitMs);
  try {
    return await read(wait.options);
  } catch (error) {
    throw wait.explain(error);
  } finally {
    wait.dispose();
  }
}
