import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { RegistryEvent } from "../runtime/engine.js";
import type { WorkerPoolUse } from "../runtime/worker-engine.js";

/** Use of one env's instance pool, as the runtime reports it. */
export interface InstancePoolUse {
  readonly envId: string;
  readonly idle: number;
  readonly created: number;
}

/**
 * The server's Prometheus metrics, in a registry of their own so that several servers (tests, the
 * benchmark) can live in one process. Per-second rates are left to Prometheus (`rate(...)`), as
 * is its convention; counters here are totals.
 */
export class ServerMetrics {
  readonly registry = new Registry();

  /** Transitions simulated, by env: unary steps plus every row of BatchSimulate. */
  readonly stepsTotal = new Counter({
    name: "cartridge_steps_total",
    help: "Environment transitions simulated, by env.",
    labelNames: ["env"] as const,
    registers: [this.registry],
  });

  /** Latency of each RPC, by method and status code. */
  readonly rpcDuration = new Histogram({
    name: "cartridge_rpc_duration_seconds",
    help: "Latency of Engine RPCs, by method and gRPC status code.",
    labelNames: ["method", "code"] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30],
    registers: [this.registry],
  });

  /** Failed RPCs, by method, status code, typed error code and env. */
  readonly rpcErrors = new Counter({
    name: "cartridge_rpc_errors_total",
    help: "Failed Engine RPCs, by method, gRPC status, typed error code and env.",
    labelNames: ["method", "code", "error", "env"] as const,
    registers: [this.registry],
  });

  /** Calls refused before any handler ran, by status and the role the method needs. */
  readonly authRefused = new Counter({
    name: "cartridge_auth_refused_total",
    help: "Calls refused by authentication or authorisation, by typed code and required role.",
    labelNames: ["error", "requirement"] as const,
    registers: [this.registry],
  });

  /** Cartridge load, reload, unload and reject events. */
  readonly registryEvents = new Counter({
    name: "cartridge_registry_events_total",
    help: "Cartridge registry events: loaded, reloaded (replaced a build), unloaded, rejected.",
    labelNames: ["event"] as const,
    registers: [this.registry],
  });

  /** Rows the BatchSimulate streams have pulled from the engine (produced, not necessarily sent). */
  readonly batchRowsProduced = new Counter({
    name: "cartridge_batch_rows_produced_total",
    help: "Rows BatchSimulate pulled from the engine, by env and mode.",
    labelNames: ["env", "mode"] as const,
    registers: [this.registry],
  });

  /** BatchSimulate streams in progress. */
  readonly batchStreamsActive = new Gauge({
    name: "cartridge_batch_streams_active",
    help: "BatchSimulate calls in progress.",
    registers: [this.registry],
  });

  /** Streams paused because the client is not reading (flow control). */
  readonly batchStreamsWaiting = new Gauge({
    name: "cartridge_batch_streams_waiting_for_drain",
    help: "BatchSimulate calls paused until the client reads (HTTP/2 flow control).",
    registers: [this.registry],
  });

  /** Chunks written by BatchSimulate streams and not yet taken by HTTP/2, over all streams. */
  readonly batchChunksInFlight = new Gauge({
    name: "cartridge_batch_chunks_in_flight",
    help: "Result chunks written by BatchSimulate but not yet handed to HTTP/2, over all calls.",
    registers: [this.registry],
  });

  /** Envs served right now (set by whoever owns the registry). */
  readonly envsServed = new Gauge({
    name: "cartridge_envs_served",
    help: "Envs currently served.",
    registers: [this.registry],
  });

  /**
   * Label children of the per-call metrics, looked up once: prom-client hashes a label object on
   * every `inc`/`observe`, a measurable share of a unary Step. Keys are method names and the ids
   * of envs that exist (a client's unknown id never reaches these), so the maps stay small.
   */
  private readonly okDurations = new Map<string, Histogram.Internal<"method" | "code">>();
  private readonly envSteps = new Map<string, Counter.Internal>();

  /** Records the latency of a successful call of `method`. */
  observeOk(method: string, seconds: number): void {
    let child = this.okDurations.get(method);
    if (child === undefined) {
      child = this.rpcDuration.labels({ method, code: "OK" });
      this.okDurations.set(method, child);
    }
    child.observe(seconds);
  }

  /** Counts `steps` transitions of `env` (an env that exists). */
  countSteps(env: string, steps = 1): void {
    let child = this.envSteps.get(env);
    if (child === undefined) {
      child = this.stepsTotal.labels({ env });
      this.envSteps.set(env, child);
    }
    child.inc(steps);
  }

  constructor(options: { collectProcessMetrics?: boolean } = {}) {
    // Process memory, CPU, event-loop lag and GC, labelled like every Node service.
    if (options.collectProcessMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Reports the use of each env's instance pool at every scrape: idle instances kept for reuse,
   * and instances created so far (a growing number means calls keep trapping or overlapping).
   */
  observeInstancePools(read: () => readonly InstancePoolUse[]): void {
    new Gauge({
      name: "cartridge_instances_idle",
      help: "Idle sandboxed instances kept for reuse, by env (current build).",
      labelNames: ["env"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of read()) this.set({ env: pool.envId }, pool.idle);
      },
    });
    new Gauge({
      name: "cartridge_instances_created",
      help: "Sandboxed instances created since the build was loaded, by env (current build).",
      labelNames: ["env"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of read()) this.set({ env: pool.envId }, pool.created);
      },
    });
  }

  /**
   * Reports the guest worker pool at every scrape: workers (and those kept for unary calls), busy
   * workers, calls waiting by lane, workers replaced, builds evicted from the workers, and unary
   * calls answered by the inline fuel slice or handed on to a worker. Totals are gauges set from
   * the pool's own counters.
   */
  observeWorkerPool(read: () => WorkerPoolUse): void {
    const gauge = (name: string, help: string, value: (use: WorkerPoolUse) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(value(read()));
        },
      });
    gauge("cartridge_workers", "Guest worker threads, the unary ones included.", (u) => u.workers);
    gauge(
      "cartridge_workers_unary",
      "Guest worker threads kept for unary calls (never running a stream chunk).",
      (u) => u.unaryWorkers,
    );
    gauge("cartridge_workers_busy", "Guest workers running a call.", (u) => u.busy);
    new Gauge({
      name: "cartridge_worker_queue_depth",
      help: "Calls waiting for a guest worker, by lane (unary calls go first).",
      labelNames: ["lane"] as const,
      registers: [this.registry],
      collect() {
        const use = read();
        this.set({ lane: "unary" }, use.queuedUnary);
        this.set({ lane: "bulk" }, use.queuedBulk);
      },
    });
    gauge(
      "cartridge_workers_replaced",
      "Guest workers terminated and replaced (watchdog, cancellation, crash) since the start.",
      (u) => u.replaced,
    );
    gauge(
      "cartridge_worker_builds_evicted",
      "Builds dropped from the guest workers after the registry let them go, since the start.",
      (u) => u.evictedBuilds,
    );
    gauge(
      "cartridge_unary_inline_calls",
      "Unary steps and resets answered by the inline fuel slice, since the start.",
      (u) => u.inlineCalls,
    );
    gauge(
      "cartridge_unary_handed_on_calls",
      "Unary calls that outgrew the inline fuel slice and went to a worker, since the start.",
      (u) => u.handedOnCalls,
    );
  }

  /** Counts a registry event under a stable name. */
  recordRegistryEvent(event: RegistryEvent): void {
    if (event.kind === "registered") {
      this.registryEvents.inc({ event: event.replaced === undefined ? "loaded" : "reloaded" });
    } else if (event.kind === "unregistered") {
      this.registryEvents.inc({ event: "unloaded" });
    } else {
      this.registryEvents.inc({ event: "rejected" });
    }
  }

  /** The current value of a counter or gauge with the given labels (0 when never set). */
  async valueOf(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const data = await metric.get();
    let total = 0;
    for (const sample of data.values) {
      const matches = Object.entries(labels).every(([k, v]) => String(sample.labels[k]) === v);
      if (matches) total += sample.value;
    }
    return total;
  }
}
