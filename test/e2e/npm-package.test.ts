import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The npm package as a user gets it: `npm pack` of this checkout, installed into an empty folder,
 * and nothing else. The test uses only what the installed package offers (the `cartridge` bin,
 * `cartridge/client`, `cartridge/sdk`), never a path into the checkout.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Bounds each child command, so that a hang fails this test instead of the whole run. */
const COMMAND_TIMEOUT_MS = 240_000;
/**
 * Each test starts several Node processes and one compiles a cartridge: more than vitest's default
 * on a busy two-core machine, and still bounded.
 */
const TEST_TIMEOUT_MS = 300_000;

let work = "";
let app = "";
let cli = "";
let version = "";

async function cartridge(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
    cwd: app,
    timeout: COMMAND_TIMEOUT_MS,
  });
  return `${stdout}${stderr}`;
}

beforeAll(async () => {
  // dist/ is what the package ships; `npm test` builds it before the tests run.
  expect(existsSync(join(ROOT, "dist/host/cli/main.js"))).toBe(true);
  work = await mkdtemp(join(tmpdir(), "cartridge-pack-"));
  app = join(work, "app");
  await mkdir(app);
  version = (JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string })
    .version;
  await run("npm", ["pack", "--ignore-scripts", "--pack-destination", work], {
    cwd: ROOT,
    timeout: COMMAND_TIMEOUT_MS,
  });
  const tarball = (await readdir(work)).find((name) => name.endsWith(".tgz"));
  expect(tarball).toBeDefined();
  await writeFile(
    join(app, "package.json"),
    JSON.stringify({ name: "app", private: true, type: "module" }),
  );
  // --prefer-offline: CI has just filled the npm cache with the same dependencies.
  await run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball ?? "")],
    { cwd: app, timeout: COMMAND_TIMEOUT_MS },
  );
  cli = join(app, "node_modules/cartridge/dist/host/cli/main.js");
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true });
});

describe("the npm package, installed into an empty folder", () => {
  it(
    "links a `cartridge` bin that prints its version and help for every subcommand",
    async () => {
      const bin = join(app, "node_modules/.bin/cartridge");
      expect(existsSync(bin)).toBe(true);
      const { stdout } = await run(bin, ["--version"], { cwd: app, timeout: COMMAND_TIMEOUT_MS });
      expect(stdout.trim()).toBe(version);
      const help = await cartridge("--help");
      const subcommands = [
        "new",
        "build",
        "build-all",
        "validate",
        "serve",
        "cluster",
        "deploy",
        "certs",
        "tokens",
      ];
      const helps = await Promise.all(subcommands.map((name) => cartridge(name, "--help")));
      subcommands.forEach((name, i) => {
        expect(help).toContain(name);
        expect(helps[i]).toContain(`Usage: cartridge ${name}`);
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "scaffolds, builds, validates and serves a new game that imports the SDK by package name",
    async () => {
      await cartridge("new", "mygame");
      const game = await readFile(join(app, "mygame/assembly/game.ts"), "utf8");
      expect(game).toContain('from "cartridge/sdk"');
      expect(game).not.toContain("../");

      expect(await cartridge("build", "mygame")).toContain("mygame-v1: built");
      const wasm = join(app, "mygame/build/mygame-v1.wasm");
      expect(await cartridge("validate", wasm)).toContain("valid");

      const folder = join(app, "mygame/build");
      const server = spawn(
        process.execPath,
        [cli, "serve", "--cartridges", folder, "--port", "0"],
        {
          cwd: app,
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      try {
        const address = await listeningAddress(server);
        // A user's script: the client from the package's exports, by name.
        const script = join(app, "play.mjs");
        await writeFile(
          script,
          `import { EngineClient } from "cartridge/client";
const client = await EngineClient.connect(process.argv[2]);
const env = await client.make("mygame-v1");
const { info } = await env.reset({ seed: 7 });
const step = await env.step(info.legalMask.indexOf(1));
console.log(JSON.stringify({ envs: (await client.listEnvs()).map((c) => c.id?.envId), reward: step.reward }));
client.close();
`,
        );
        const { stdout } = await run(process.execPath, [script, address], {
          cwd: app,
          timeout: COMMAND_TIMEOUT_MS,
        });
        const played = JSON.parse(stdout) as { envs: string[]; reward: number };
        expect(played.envs).toEqual(["mygame-v1"]);
        expect(Number.isFinite(played.reward)).toBe(true);
      } finally {
        server.kill("SIGTERM");
        if (server.exitCode === null) await new Promise((resolve) => server.once("close", resolve));
      }
    },
    TEST_TIMEOUT_MS,
  );
});

/** Reads the server's banner until it says where it listens. */
function listeningAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    child.once("exit", (code) => reject(new Error(`serve exited (${code}): ${lines.join("\n")}`)));
    if (child.stderr === null) throw new Error("serve has no stderr");
    createInterface({ input: child.stderr }).on("line", (line) => {
      lines.push(line);
      const address = /listening on (\S+)/.exec(line)?.[1];
      if (address !== undefined) resolve(address);
    });
  });
}
