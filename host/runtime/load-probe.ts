import { Worker } from "node:worker_threads";
import { LoadError, type LoadErrorCode } from "./errors.js";
import type { GuestFacts, ProbeRequest } from "./guest-facts.js";
import { checkWorkerNice, DEFAULT_WORKER_NICE } from "./worker-nice.js";
import { workerSource } from "./worker-source.js";

/**
 * Wall-clock watchdog of one load probe, in ms. Fuel (`startBudgetFuel`) is what decides that a
 * start function runs too long, deterministically; this is only the backstop for code that is
 * slow per fuel unit, or a budget an operator raised too far.
 */
export const LOAD_WATCHDOG_MS = 5000;

/** Options of a `LoadProbe`. */
export interface LoadProbeOptions {
  /** Wall-clock watchdog per probe, in ms (default `LOAD_WATCHDOG_MS`). */
  readonly watchdogMs?: number;
  /** Niceness of the probe thread (default `DEFAULT_WORKER_NICE`; see worker-nice.ts). */
  readonly nice?: number;
}

/** What the probe worker is started with. */
export interface ProbeWorkerData {
  readonly nice: number;
}

/** Main thread to probe worker: probe this module. */
export interface ProbeJob {
  readonly id: number;
  readonly request: ProbeRequest;
}

/** Probe worker to main thread: ready (once, after start-up), or the outcome of probe `id`. */
export type ProbeReply =
  | { readonly kind: "ready" }
  | { readonly kind: "result"; readonly id: number; readonly ok: true; readonly facts: GuestFacts }
  | {
      readonly kind: "result";
      readonly id: number;
      readonly ok: false;
      /** `code` is set for a `LoadError`; without it the failure is a host bug. */
      readonly error: { readonly code?: LoadErrorCode; readonly message: string };
    };

interface Pending {
  readonly job: ProbeJob;
  readonly resolve: (facts: GuestFacts) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Runs the guest half of loading (guest-facts.ts: the start function, the constant exports) on a
 * worker thread of its own, so that a module whose start function burns its whole budget, or
 * worse, never holds up the event loop. One worker, started on first use and unref'd while idle
 * (it never keeps the process alive on its own); probes run one at a time, in order.
 *
 * A probe still running after `watchdogMs` (start-up of the worker not counted) fails with
 * `LoadError` code `Timeout` and its worker is terminated; the next probe starts a fresh one.
 * Everything a probe returns is plain data; the compiled module is shared, not recompiled.
 */
export class LoadProbe {
  private readonly watchdogMs: number;
  private readonly nice: number;
  private worker: Worker | undefined;
  private ready = false;
  private readonly queue: Pending[] = [];
  private running: Pending | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;
  /** Workers terminated by the watchdog or lost to a crash (for tests and metrics). */
  replacedWorkers = 0;

  constructor(options: LoadProbeOptions = {}) {
    this.watchdogMs = options.watchdogMs ?? LOAD_WATCHDOG_MS;
    if (!Number.isInteger(this.watchdogMs) || this.watchdogMs < 1) {
      throw new RangeError(`watchdogMs must be a positive integer, got ${this.watchdogMs}`);
    }
    this.nice = checkWorkerNice(options.nice ?? DEFAULT_WORKER_NICE);
  }

  /**
   * Instantiates `request.module` in the worker and reads its facts. Rejects with the
   * `LoadError` the module earned (no source; the loader names it), `Timeout` from the
   * watchdog, or a plain `Error` when the worker itself failed.
   */
  run(request: ProbeRequest): Promise<GuestFacts> {
    if (this.closed) return Promise.reject(new Error("the load probe is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, request }, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates the worker; queued and running probes fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new Error("the load probe is closed");
    this.finish()?.reject(error);
    for (const pending of this.queue.splice(0)) pending.reject(error);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private dispatch(): void {
    if (this.closed || this.running !== undefined || this.queue.length === 0) return;
    const worker = this.worker ?? this.start();
    worker.ref(); // work is waiting: the process must not exit under it
    if (!this.ready) return; // "ready" dispatches again
    const pending = this.queue.shift() as Pending;
    this.running = pending;
    this.watchdog = setTimeout(() => this.timeout(pending), this.watchdogMs);
    worker.postMessage(pending.job);
  }

  private start(): Worker {
    const source = workerSource("load-probe-worker");
    const workerData: ProbeWorkerData = { nice: this.nice };
    const worker = new Worker(source.code, { eval: source.eval, workerData });
    worker.unref();
    this.worker = worker;
    this.ready = false;
    const current = () => this.worker === worker;
    worker.on("message", (reply: ProbeReply) => {
      if (!current()) return;
      if (reply.kind === "ready") {
        this.ready = true;
      } else if (this.running?.job.id === reply.id) {
        const pending = this.finish() as Pending;
        if (reply.ok) pending.resolve(reply.facts);
        else pending.reject(fromProbeError(reply.error));
      }
      this.dispatch();
    });
    const lost = (why: string) => {
      if (!current()) return;
      const error = new Error(`load probe worker ${why}`);
      // A worker that never started would fail every probe the same way: fail them all.
      const failed = this.ready ? [this.finish()] : [this.finish(), ...this.queue.splice(0)];
      this.drop();
      for (const pending of failed) pending?.reject(error);
      this.dispatch();
    };
    worker.on("error", (error) => lost(`crashed: ${error.message}`));
    worker.on("exit", (code) => lost(`exited (code ${code})`));
    return worker;
  }

  private timeout(pending: Pending): void {
    if (this.running !== pending) return;
    this.finish();
    this.drop();
    pending.reject(
      new LoadError(
        "Timeout",
        `the start function and constant exports ran past the ${this.watchdogMs} ms load watchdog (fuel did not stop them); the probe worker was replaced`,
      ),
    );
    this.dispatch();
  }

  /** Clears the running probe and its watchdog; returns it. */
  private finish(): Pending | undefined {
    const pending = this.running;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.running = undefined;
    if (this.queue.length === 0) this.worker?.unref();
    return pending;
  }

  /** Terminates the current worker; the next probe starts a fresh one. */
  private drop(): void {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    this.ready = false;
    this.replacedWorkers += 1;
    void worker.terminate();
  }
}

function fromProbeError(error: { code?: LoadErrorCode; message: string }): Error {
  if (error.code === undefined) return new Error(`load probe failed: ${error.message}`);
  return new LoadError(error.code, error.message);
}

let shared: LoadProbe | undefined;

/** The process's load probe, used by every load that does not bring its own. */
export function sharedLoadProbe(): LoadProbe {
  shared ??= new LoadProbe();
  return shared;
}
