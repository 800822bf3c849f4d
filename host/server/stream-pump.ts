import { setImmediate as nextTurn } from "node:timers/promises";
import type { ServerWritableStream } from "@grpc/grpc-js";

/** Why a pump stopped before the end of its chunks. */
export type PumpOutcome = "completed" | "cancelled" | "deadline";

/** Observers of the pump, for metrics. */
export interface PumpHooks {
  /** Called with each chunk right after it is pulled from the generator. */
  onChunk(rows: number): void;
  /** Called when the pump starts and stops waiting for the client to read. */
  onWaiting(waiting: boolean): void;
  /** Called with +1 when a chunk is written and -1 when HTTP/2 has taken it. */
  onInFlight(delta: number): void;
}

function deadlinePassed(deadline: Date | number): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && Date.now() >= at;
}

/**
 * Writes chunks to a server stream with flow control: it pulls the next chunk from the (lazy)
 * generator only while fewer than `maxInFlightChunks` written chunks are still waiting to be
 * handed to HTTP/2 (which itself waits for the client's flow-control window), and stops on
 * cancellation or at the deadline. Counting write callbacks bounds the memory a stream holds more
 * tightly than the stream's own 16-message buffer would. Between chunks it yields to the event loop,
 * because the engine runs cartridges synchronously and other calls must make progress too.
 *
 * Resolves once every chunk is written and the stream ended, or once the call is gone; rejects
 * with whatever the generator throws (the caller maps it to a status).
 */
export async function pumpChunks<Req, Chunk extends { rows: number }>(
  call: ServerWritableStream<Req, Chunk>,
  chunks: Iterator<Chunk, void, void>,
  hooks: PumpHooks,
  maxInFlightChunks = 4,
): Promise<PumpOutcome> {
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
      const next = chunks.next();
      if (next.done === true) break;
      hooks.onChunk(next.value.rows);
      inFlight += 1;
      hooks.onInFlight(1);
      call.write(next.value, () => {
        inFlight -= 1;
        hooks.onInFlight(-1);
        wake?.();
      });
      const blocked = () => !gone && (inFlight >= maxInFlightChunks || call.writableNeedDrain);
      if (!blocked()) {
        await nextTurn();
        continue;
      }
      hooks.onWaiting(true);
      try {
        while (blocked()) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      } finally {
        wake = undefined;
        hooks.onWaiting(false);
      }
    }
    if (gone) return goneOutcome();
    call.end();
    return "completed";
  } finally {
    call.off("cancelled", onGone);
    call.off("close", onGone);
    call.off("drain", onDrain);
    // Release the generator (and any engine resources it holds) however the loop ended.
    chunks.return?.();
  }
}
