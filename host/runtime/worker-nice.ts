import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Default niceness of the threads that run guest code (`WorkerEngineOptions.workerNice`, the
 * load probe). With every core busy, the thread that serves gRPC would otherwise queue behind
 * them for CPU time; a nicer worker yields to it and still gets every cycle it does not use.
 */
export const DEFAULT_WORKER_NICE = 10;

/** Throws unless `nice` is a niceness a worker may give itself (0 leaves it as it is). */
export function checkWorkerNice(nice: number): number {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) {
    throw new RangeError(`workerNice must be an integer in 0..19, got ${nice}`);
  }
  return nice;
}

/**
 * Lowers the calling thread's scheduling priority, so the gRPC thread goes first when the cores
 * are busy. Linux only: setpriority on a thread id applies to that thread alone; elsewhere (or
 * without /proc) the thread keeps the process's priority. Call it from the worker itself.
 */
export function beNice(nice: number): void {
  if (nice === 0 || process.platform !== "linux") return;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // Not permitted or no /proc: scheduling stays as it is, nothing else depends on it.
  }
}
