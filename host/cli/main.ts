#!/usr/bin/env node
import { Command } from "commander";
import { packageVersion } from "./version.js";

/**
 * The `cartridge` command. Each subcommand lives in its own file and registers itself here; this
 * file only assembles the program, so that adding a command never touches another one.
 *
 * Subcommand modules are imported only when needed: `build` pulls in the AssemblyScript compiler
 * and binaryen, which take seconds to load, and `serve` (a node restarting after a crash) must not
 * pay for that. A named subcommand loads its own module only; anything else (help, a typo) loads
 * them all so that commander can list them.
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  new: async () => (await import("./new.js")).newCommand(),
  build: async () => (await import("./build.js")).buildCommand(),
  "build-all": async () => (await import("./build.js")).buildAllCommand(),
  validate: async () => (await import("./validate.js")).validateCommand(),
  replay: async () => (await import("./replay.js")).replayCommand(),
  serve: async () => (await import("./serve.js")).serveCommand(),
  certs: async () => (await import("./certs.js")).certsCommand(),
  tokens: async () => (await import("./tokens.js")).tokensCommand(),
  cluster: async () => (await import("./cluster.js")).clusterCommand(),
  deploy: async () => (await import("./deploy.js")).deployCommand(),
};

const program = new Command()
  .name("cartridge")
  .description("Build, validate and serve WebAssembly game cartridges.")
  .version(packageVersion(), "-V, --version", "print the version and exit")
  .showHelpAfterError();

const requested = process.argv[2];
const load =
  requested !== undefined && Object.hasOwn(SUBCOMMANDS, requested)
    ? SUBCOMMANDS[requested]
    : undefined;
for (const loader of load !== undefined ? [load] : Object.values(SUBCOMMANDS)) {
  program.addCommand(await loader());
}

await program.parseAsync(process.argv);
