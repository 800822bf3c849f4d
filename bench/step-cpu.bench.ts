/**
 * Server CPU time per unary call, Step against the bare grpc-js echo, with the server in a child
 * process as in grpc.bench.ts (`CARTRIDGE_BENCH_WORKERS`, default 2 here). CPU time of the whole
 * server process (every thread, user and system, from /proc) is what a loaded machine does not
 * distort the way it distorts wall-clock latency; p50s are printed too. Echo and Step calls run
 * in alternating rounds so load drifts alike on both. Linux only (/proc).
 *
 *   npx tsx bench/step-cpu.bench.ts          (needs build/cartridges: npm run build)
 *   CARTRIDGE_BENCH_SLICE=10000 npx tsx bench/step-cpu.bench.ts   (with the inline fuel slice)
 */
import { Client, credentials } from "@grpc/grpc-js";
import { EngineClient } from "../host/client/index.js";
import { StepRequest } from "../host/proto/generated/engine/v1/engine.js";
import { createEngine, loadDirectory } from "../host/runtime/index.js";
import { startChild } from "./grpc.bench.js";
import { processCpu } from "./proc-cpu.js";

const ENV_ID = "tictactoe-v1";
const CALLS = Number(process.env.BENCH_CALLS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const WORKERS = Number(process.env.CARTRIDGE_BENCH_WORKERS ?? 2);
/** Reply size of the echo: a tic-tac-toe StepResponse (grpc.bench.ts sizes it the same way). */
const ECHO_REPLY_BYTES = 228;

/** CPU time of process `pid` so far, in µs (utime + stime, every thread). */
const processCpuUs = (pid: number): number => processCpu(pid).totalSeconds * 1e6;

const { engine, registry } = createEngine();
await loadDirectory(registry, new URL("../build/cartridges", import.meta.url).pathname);
const first = engine.reset({ envId: ENV_ID }, 1n);
const action = new Uint8Array(4);
action[0] = first.legalMask.indexOf(1);
const request = Buffer.from(
  StepRequest.encode({
    id: { envId: ENV_ID, buildId: "" },
    state: Buffer.from(first.state),
    action: Buffer.from(action),
  }).finish(),
);

const { child, ports } = await startChild(ECHO_REPLY_BYTES, WORKERS);
const pid = child.pid ?? 0;
const client = await EngineClient.connect(`127.0.0.1:${ports.engine}`);
const echo = new Client(`127.0.0.1:${ports.echo}`, credentials.createInsecure());
const same = (value: Buffer) => value;
const lines = {
  echo: {
    call: () =>
      new Promise<void>((ok, fail) =>
        echo.makeUnaryRequest("/bench.Echo/Echo", same, same, request, (error) =>
          error ? fail(error) : ok(),
        ),
      ),
    cpuUs: 0,
    times: [] as number[],
  },
  step: {
    call: async () => {
      await client.step(ENV_ID, first.state, action);
    },
    cpuUs: 0,
    times: [] as number[],
  },
};
try {
  for (let round = 0; round <= ROUNDS; round++) {
    for (const line of Object.values(lines)) {
      const cpu0 = processCpuUs(pid);
      const times: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        await line.call();
        times.push(performance.now() - t0);
      }
      // Round 0 warms up (JIT, connections) and is not counted.
      if (round === 0) continue;
      line.cpuUs += processCpuUs(pid) - cpu0;
      line.times.push(...times);
    }
  }
  const p50Us = (times: number[]) =>
    ([...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0) * 1000;
  const perCall = (cpuUs: number) => cpuUs / (CALLS * ROUNDS);
  console.log(
    `server CPU per unary call (node ${process.version}; --workers ${WORKERS}; ${ROUNDS} rounds of ${CALLS} calls)`,
  );
  for (const [name, line] of Object.entries(lines)) {
    console.log(
      `  ${name.padEnd(5)} server CPU/call ${perCall(line.cpuUs).toFixed(1).padStart(6)} us  p50 ${p50Us(line.times).toFixed(1).padStart(7)} us`,
    );
  }
  console.log(
    `  Step/echo: server CPU ${(lines.step.cpuUs / lines.echo.cpuUs).toFixed(2)}x, p50 ${(p50Us(lines.step.times) / p50Us(lines.echo.times)).toFixed(2)}x`,
  );
} finally {
  client.close();
  echo.close();
  child.kill("SIGTERM");
}
