import { parentPort, workerData } from "node:worker_threads";
import { LoadError } from "./errors.js";
import { probeModule } from "./guest-facts.js";
import type { ProbeJob, ProbeReply, ProbeWorkerData } from "./load-probe.js";
import { beNice } from "./worker-nice.js";

/**
 * The load probe's worker (load-probe.ts): runs the guest half of loading for one module at a
 * time and answers with plain data. A start function that never returns is the main thread's to
 * stop, by terminating this worker.
 */

beNice((workerData as ProbeWorkerData).nice);

const port = parentPort;
if (port === null) throw new Error("load-probe-worker.ts runs only as a worker thread");
port.on("message", (job: ProbeJob) => {
  let reply: ProbeReply;
  try {
    reply = { kind: "result", id: job.id, ok: true, facts: probeModule(job.request) };
  } catch (error) {
    reply = {
      kind: "result",
      id: job.id,
      ok: false,
      error:
        error instanceof LoadError
          ? { code: error.code, message: error.message }
          : { message: error instanceof Error ? error.message : String(error) },
    };
  }
  port.postMessage(reply);
});
const ready: ProbeReply = { kind: "ready" };
port.postMessage(ready);
