import { setImmediate as nextTurn } from "node:timers/promises";
import type { ServerWritableStream } from "@grpc/grpc-js";

/**
 * Why a pump stopped: it wrote every chunk, the client cancelled, the deadline passed, or the
 * client did not read for `stallTimeoutMs`.
 */
export type PumpOutcome = "completed" | "cancelled" | "deadline" | "stalled";

/** Observers of the pump, for metrics. */
export interface PumpHooks<Chunk> {
  /** Called with each chunk right after it is pulled from the generator. */
  onChunk(chunk: Chunk): void;
  /** Called when the pump starts and stops waiting for the client to read. */
  onWaiting(waiting: boolean): void;
  /** Called with +1 when a chunk is written and -1 when HTTP/2 has taken it. */
  onInFlight(delta: number): void;
  /** Called with each chunk once HTTP/2 has taken it (serialized): its memory is free again. */
  onWritten?(chunk: Chunk): void;
}

function deadlinePassed(deadline: Date | number): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && Date.now() >= at;
}

/** Flow-control bounds of one pump. */
export interface PumpLimits {
  /** Chunks written but not yet taken by HTTP/2 before the pump stops pulling. */
  readonly maxInFlightChunks: number;
  /**
   * How long the pump waits for a client that does not read before it gives up on the stream
   * (`stalled`), so that unread streams cannot hold server slots forever.
   */
  readonly stallTimeoutMs: number;
}

/**
 * Writes chunks to a server stream with flow control: it pulls the next chunk from the (lazy)
 * generator only while fewer than `maxInFlightChunks` written chunks are still waiting to be
 * handed to HTTP/2 (which itself waits for the client's flow-control window), and stops on
 * cancellation, at the deadline, or when the client has not read for `stallTimeoutMs`. Counting
 * write callbacks bounds the memory a stream holds more tightly than the stream's own 16-message
 * buffer would. Between chunks it yields to the event loop so that other calls make progress.
 *
 * Resolves once every chunk is written and the stream ended, or once the call is gone; rejects
 * with whatever the generator throws (the caller maps it to a status).
 */
export async function pumpChunks<Req, Chunk>(
  call: ServerWritableStream<Req, Chunk>,
  chunks: AsyncIterator<Chunk, void, void>,
  hooks: PumpHooks<Chunk>,
  limits: PumpLimits,
): Promise<PumpOutcome> {
  const { maxInFlightChunks, stallTimeoutMs } = limits;
  let gone = call.cancelled;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const onGone = () => {
    gone = true;
    wake?.();
  };
  const onDrain = () => wake?.();
  call.on("cancelled", onGone);
  call.on("close", onGone);
  call.on("drain", onDrain);
  const deadline = call.getDeadline();
  // grpc-js cancels a call whose deadline passed; report that as the deadline, not the client.
  const goneOutcome = (): PumpOutcome => (deadlinePassed(deadline) ? "deadline" : "cancelled");
  try {
    for (;;) {
      if (gone) return goneOutcome();
      if (deadlinePassed(deadline)) return "deadline";
      const next = await chunks.next();
      if (gone) return goneOutcome();
      if (next.done === true) break;
      const chunk = next.value;
      hooks.onChunk(chunk);
      inFlight += 1;
      hooks.onInFlight(1);
      call.write(chunk, () => {
        inFlight -= 1;
        hooks.onInFlight(-1);
        hooks.onWritten?.(chunk);
        wake?.();
      });
      const blocked = () => !gone && (inFlight >= maxInFlightChunks || call.writableNeedDrain);
      if (!blocked()) {
        await nextTurn();
        continue;
      }
      hooks.onWaiting(true);
      let stalled = false;
      const stallTimer = setTimeout(() => {
        stalled = true;
        wake?.();
      }, stallTimeoutMs);
      try {
        while (blocked() && !stalled) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      } finally {
        clearTimeout(stallTimer);
        wake = undefined;
        hooks.onWaiting(false);
      }
      if (stalled) return "stalled";
    }
    if (gone) return goneOutcome();
    call.end();
    return "completed";
  } finally {
    call.off("cancelled", onGone);
    call.off("close", onGone);
    call.off("drain", onDrain);
    // Release the generator (and any engine resources it holds) however the loop ended.
    void chunks.return?.();
  }
}
