#!/usr/bin/env node
import { Command } from "commander";
import { packageVersion } from "./version.js";

/**
 * The `cartridge` command. Each subcommand lives in its own file and registers itself here; this
 * file only assembles the program, so that adding a command never touches another one.
 */
const program = new Command()
  .name("cartridge")
  .description("Build, validate and serve WebAssembly game cartridges.")
  .version(packageVersion(), "-V, --version", "print the version and exit")
  .showHelpAfterError();

// Subcommand registrations (one line each).
program.addCommand((await import("./new.js")).newCommand());
program.addCommand((await import("./build.js")).buildCommand());
program.addCommand((await import("./build.js")).buildAllCommand());
program.addCommand((await import("./validate.js")).validateCommand());
program.addCommand((await import("./serve.js")).serveCommand());
program.addCommand((await import("./certs.js")).certsCommand());
program.addCommand((await import("./tokens.js")).tokensCommand());

await program.parseAsync(process.argv);
