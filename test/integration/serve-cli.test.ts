import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync, statSync } from "node:fs";
import { cp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { EngineClient } from "../../host/client/index.js";
import { bundledCartridge, tempCartridgeDir } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * How to run the CLI: the compiled dist/ when it is newer than every host source file (npm test
 * builds first), because starting from TypeScript through tsx takes several seconds; otherwise
 * the sources through tsx, so that the test never runs stale code.
 */
function cliCommand(): string[] {
  const compiled = join(ROOT, "dist/host/cli/main.js");
  if (existsSync(compiled)) {
    const builtAt = statSync(compiled).mtimeMs;
    const sources = readdirSync(join(ROOT, "host"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
      .map((entry) => statSync(join(entry.parentPath, entry.name)).mtimeMs);
    if (sources.every((mtime) => mtime <= builtAt)) return [compiled];
  }
  return ["--import", "tsx", join(ROOT, "host/cli/main.ts")];
}

describe("cartridge serve", () => {
  it("starts, says where it is, serves and reloads, and stops cleanly on SIGTERM", async () => {
    const folder = await tempCartridgeDir(["tictactoe-v1"]);
    const child = spawn(
      process.execPath,
      [...cliCommand(), "serve", "--cartridges", folder.dir, "--port", "0"].concat([
        "--metrics-port",
        "0",
        "--watch",
        "--log-level",
        "info",
      ]),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const logLines: string[] = [];
    // Resolves when the watcher has loaded connect4-v1: a condition to await, not a poll with a
    // bound that a loaded machine can exceed.
    let connect4Loaded: () => void = () => {};
    const connect4 = new Promise<void>((resolve) => {
      connect4Loaded = resolve;
    });
    const backup = join(folder.dir, "backup.wasm");
    const logged = (what: (line: string) => boolean) =>
      new Promise<string>((resolve) => {
        const seen = logLines.find(what);
        if (seen !== undefined) resolve(seen);
        else waiters.push({ what, resolve });
      });
    const waiters: { what: (line: string) => boolean; resolve: (line: string) => void }[] = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      logLines.push(line);
      if (line.includes('"cartridge loaded"') && line.includes('"envId":"connect4-v1"')) {
        connect4Loaded();
      }
      for (const waiter of waiters.filter((w) => w.what(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
    const banner: string[] = [];
    // "close", not "exit": only "close" waits until stdout is drained, so the last log line
    // ("server stopped") has been read by then.
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${banner}`)));
        createInterface({ input: child.stderr }).on("line", (line) => {
          banner.push(line);
          if (line.includes("health and reflection")) resolve();
        });
      });
      const text = banner.join("\n");
      const address = /listening on (\S+)/.exec(text)?.[1];
      const metricsUrl = /metrics: (http\S+)/.exec(text)?.[1];
      expect(text).toContain("envs (1): tictactoe-v1");
      expect(text).toContain("watching for changes");
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);

      const client = await EngineClient.connect(address ?? "");
      const env = await client.make("tictactoe-v1");
      const { obs } = await env.reset({ seed: 1 });
      expect(obs.length).toBe(27);

      await cp(bundledCartridge("connect4-v1"), join(folder.dir, "connect4-v1.wasm"));
      await connect4;
      expect((await client.listEnvs()).map((c) => c.id?.envId)).toContain("connect4-v1");

      const metrics = await (await fetch(metricsUrl ?? "")).text();
      expect(metrics).toContain('cartridge_registry_events_total{event="loaded"} 2');
      expect(metrics).toContain("process_resident_memory_bytes");
      expect(metrics).toContain('cartridge_rpc_duration_seconds_count{method="Reset",code="OK"} 1');

      // cp tictactoe-v1.wasm backup.wasm; rm backup.wasm: refused naming both files, and the
      // env is still served by the original afterwards.
      await cp(bundledCartridge("tictactoe-v1"), backup);
      const refusal = JSON.parse(
        await logged((line) => line.includes('"code":"EnvConflict"') && line.includes(backup)),
      ) as { message: string };
      expect(refusal.message).toContain(join(folder.dir, "tictactoe-v1.wasm"));
      await rm(backup);
      await logged((line) => line.includes('"cartridge file removed"') && line.includes(backup));
      expect((await env.reset({ seed: 2 })).obs.length).toBe(27);
      client.close();

      const records = logLines.map((line) => JSON.parse(line) as { msg: string });
      expect(records.map((r) => r.msg)).toContain("server started");
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const last = JSON.parse(logLines.at(-1) ?? "{}") as { msg?: string; forced?: boolean };
      expect(last).toMatchObject({ msg: "server stopped", forced: false });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await folder.remove();
    }
  });

  /** Children of `serveUntilExit` still running; killed after each test, pass or fail. */
  const running = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of running) child.kill("SIGKILL");
    running.clear();
  });

  /** Runs `cartridge serve` with `args` until it exits; returns its exit code and stderr. */
  async function serveUntilExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [...cliCommand(), "serve", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    // No wall-clock bound of its own: a child that hangs fails the test at vitest's test timeout,
    // and afterEach kills it. (A fixed 20 s bound here used to fire on a loaded machine, where
    // starting node alone takes seconds.) "close" rather than "exit", so all of stderr was read.
    running.add(child);
    const [code] = (await once(child, "close")) as [number | null];
    running.delete(child);
    return { code, stderr };
  }

  it("exits non-zero with a clear message when a port is taken or the folder is missing", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    // An empty folder: these runs are about start-up failures, and compiling cartridges would only
    // make each child slower on a loaded machine. The three run side by side for the same reason.
    const empty = await tempCartridgeDir([]);
    try {
      const quiet = ["--log-level", "silent"];
      const [grpc, metrics, missing] = await Promise.all([
        serveUntilExit(["--cartridges", empty.dir, "--port", String(port), ...quiet]),
        serveUntilExit(
          ["--cartridges", empty.dir, "--port", "0", "--metrics-port", String(port)].concat(quiet),
        ),
        serveUntilExit(["--cartridges", join(ROOT, "no-such-folder"), "--port", "0", ...quiet]),
      ]);
      expect(grpc.code).toBe(1);
      expect(grpc.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(metrics.code).toBe(1);
      expect(metrics.stderr).toContain(`metrics port ${port} on 127.0.0.1 is already in use`);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("no-such-folder: not a folder");
    } finally {
      taken.close();
      await empty.remove();
    }
  });
});
