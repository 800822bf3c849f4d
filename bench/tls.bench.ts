/**
 * What TLS and bearer tokens cost a unary Step: the same build served three ways by three
 * `cartridge serve` processes (plaintext and open; TLS; TLS with a tokens file), each Step p50/p99
 * measured by one sequential client, the three interleaved round by round so that load on the
 * machine falls on all of them alike. Ratios are against plaintext, measured in the same run.
 *
 * Run: `npx tsx bench/tls.bench.ts` or `npm run bench -- tls` (needs `npm run build`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { certsInit } from "../host/cli/certs.js";
import { addToken } from "../host/cli/tokens.js";
import { type ConnectOptions, EngineClient } from "../host/client/index.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ROUNDS = 5;
const STEPS_PER_ROUND = 1_000;

function startServe(args: string[]): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "dist/host/cli/main.js"),
      "serve",
      "--cartridges",
      join(ROOT, "build/cartridges"),
    ].concat(["--port", "0", "--log-level", "warn"], args),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return new Promise((resolveStart, reject) => {
    child.once("exit", (code) => reject(new Error(`serve exited (${code})`)));
    createInterface({ input: child.stderr ?? process.stdin }).on("line", (line) => {
      const address = /listening on (\S+)/.exec(line)?.[1];
      if (address !== undefined) resolveStart({ child, address });
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

export async function runTlsBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-tls-bench-"));
  const children: ChildProcess[] = [];
  try {
    const certs = await certsInit({ dir, nodes: ["1"], clients: [], days: 1 });
    const node = certs.nodes.get("1");
    const tokens = join(dir, "tokens.toml");
    const token = await addToken(tokens, "bench", ["read"]);
    const tlsArgs = ["--tls-cert", node?.cert ?? "", "--tls-key", node?.key ?? ""];
    const ca = new Uint8Array(await readFile(certs.ca.cert));
    const variants: { name: string; args: string[]; connect: ConnectOptions }[] = [
      { name: "plaintext, open", args: [], connect: {} },
      { name: "TLS", args: tlsArgs, connect: { tls: { ca } } },
      {
        name: "TLS + token",
        args: [...tlsArgs, "--tokens", tokens],
        connect: { tls: { ca }, token },
      },
    ];
    const runs = [];
    for (const variant of variants) {
      const { child, address } = await startServe(variant.args);
      children.push(child);
      const client = await EngineClient.connect(address, variant.connect);
      const env = await client.make("tictactoe-v1");
      runs.push({ ...variant, client, env, samples: [] as number[] });
    }
    for (let round = 0; round <= ROUNDS; round++) {
      for (const run of runs) {
        let { info } = await run.env.reset({ seed: round });
        for (let i = 0; i < STEPS_PER_ROUND; i++) {
          const start = process.hrtime.bigint();
          const result = await run.env.step(info.legalMask.indexOf(1));
          const micros = Number(process.hrtime.bigint() - start) / 1000;
          // Round 0 warms up connections and JIT; it is not counted.
          if (round > 0) run.samples.push(micros);
          info =
            result.terminated || result.truncated
              ? (await run.env.reset({ seed: i })).info
              : result.info;
        }
      }
    }
    const base = percentile(
      [...(runs[0]?.samples ?? [])].sort((a, b) => a - b),
      0.5,
    );
    console.log(`Step latency, ${ROUNDS} x ${STEPS_PER_ROUND} sequential calls each, interleaved:`);
    for (const run of runs) {
      const sorted = [...run.samples].sort((a, b) => a - b);
      const p50 = percentile(sorted, 0.5);
      console.log(
        `  ${run.name.padEnd(16)} p50 ${p50.toFixed(0).padStart(5)} µs  p99 ${percentile(sorted, 0.99).toFixed(0).padStart(6)} µs  ${(p50 / base).toFixed(2)}x plaintext`,
      );
      run.client.close();
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runTlsBench();
