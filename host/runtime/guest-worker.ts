import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { type BuildSource, CartridgeEngine } from "./cartridge-engine.js";
import type { EnvCapabilities, EnvSelector, Transition } from "./engine.js";
import { CallError } from "./errors.js";
import { IdleInstances } from "./idle-instances.js";
import { stepItem } from "./inline-engine.js";
import { InstancePool } from "./instance-pool.js";
import { capabilitiesOf, type RegisteredBuild } from "./registry.js";
import { type ChannelRequest, UnaryChannelEnd } from "./unary-channel.js";
import { beNice } from "./worker-nice.js";
import {
  type FromWorker,
  type GuestCall,
  type GuestWorkerData,
  type ToWorker,
  toWireError,
  transferablesOf,
} from "./worker-protocol.js";

/**
 * A guest worker: runs cartridge calls for the `WorkerEngine` on its own thread, one at a time,
 * with the same `CartridgeEngine` the host uses inline, over the builds the main thread sent it
 * (each selector pins a build id). Results go back with their buffers transferred. A call that
 * never returns is the main thread's to stop, by terminating this worker.
 */

const builds = new Map<string, RegisteredBuild>();

const source: BuildSource = {
  resolve(selector: EnvSelector): RegisteredBuild {
    const build = selector.buildId === undefined ? undefined : builds.get(selector.buildId);
    if (build === undefined) {
      throw new CallError(
        "UnknownBuild",
        `worker has no build ${selector.buildId}`,
        selector.envId,
      );
    }
    return build;
  },
  list(): EnvCapabilities[] {
    return [...builds.values()].map((b) => b.capabilities);
  },
};

const data = workerData as GuestWorkerData;
/** This thread's idle instances, of every build, bounded in bytes. */
const idle = new IdleInstances(data.maxIdleInstanceBytes);
const engine = new CartridgeEngine(source, data.engine);

beNice(data.nice);

function run(call: GuestCall): unknown {
  switch (call.op) {
    case "reset":
      return engine.reset(call.selector, call.seed, call.hint);
    case "step":
      return engine.step(call.selector, call.state, call.action);
    case "stepEach":
      // Each item metered alone, as a lone step; its CallError crosses as its own outcome.
      return call.items.map((item) => {
        const outcome = stepItem(engine, call.selector, item);
        return outcome.ok ? outcome : { ok: false, error: toWireError(outcome.error) };
      });
    case "batchStep":
      return engine.batchStepAt(call.selector, call.states, call.actions, call.autoreset);
    case "resetRows":
      return engine.resetRowsAt(call.selector, call.seed, call.start, call.rows, call.hints);
    case "rolloutChunk":
      return engine.rolloutChunkAt(call.request, call.first, call.reuse);
  }
}

function workerPort(): MessagePort {
  if (parentPort === null) throw new Error("guest-worker.ts runs only as a worker thread");
  return parentPort;
}

const port = workerPort();

function handle(message: ToWorker): void {
  if (message.kind === "evict") {
    for (const buildId of message.buildIds) {
      builds.get(buildId)?.pool.close();
      builds.delete(buildId);
    }
    return;
  }
  if (message.kind === "build") {
    const { cartridge } = message;
    builds.set(cartridge.buildId, {
      cartridge,
      capabilities: capabilitiesOf(cartridge),
      pool: new InstancePool(cartridge, undefined, idle),
    });
    return;
  }
  reply(message.id, outcome(message.call));
}

/** A call's value, or what it threw. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function outcome(call: GuestCall): Outcome {
  try {
    return { ok: true, value: run(call) };
  } catch (error) {
    return { ok: false, error };
  }
}

function reply(id: number, result: Outcome): void {
  const message: FromWorker = result.ok
    ? { kind: "result", id, ok: true, value: result.value }
    : { kind: "result", id, ok: false, error: toWireError(result.error) };
  // Depth 4 reaches the arrays of a transition inside a `stepEach` outcome.
  port.postMessage(message, result.ok ? transferablesOf(result.value, 4) : []);
}

/** A call from the channel: its transition goes back there when it fits, else by message. */
function channelCall({ id, ticket, call }: ChannelRequest): void {
  const result = outcome(call);
  if (result.ok && channel.answerInBuffer(ticket, result.value as Transition)) return;
  reply(id, result);
  channel.answerPosted(ticket);
}

const channel = new UnaryChannelEnd(data.channel);
const ready: FromWorker = { kind: "ready" };
port.postMessage(ready);
// From here on the thread serves its port and channel alone, never via its event loop.
channel.serve(port, {
  message: (message) => handle(message as ToWorker),
  call: channelCall,
});
