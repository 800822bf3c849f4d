import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import { embeddedNodeConfig, loadNodeConfig } from "../node/config.js";
import { LOG_LEVELS, type LogLevel } from "../node/logger.js";
import { runNode } from "../node/run-node.js";
import { DEFAULT_LIMITS } from "../runtime/sandbox-options.js";
import { DEFAULT_UNARY_WORKERS, MAX_UNARY_WORKERS, MAX_WORKERS } from "../runtime/worker-engine.js";

/** Options of `cartridge serve`, as commander parses them. */
interface ServeOptions {
  readonly cartridges?: string;
  readonly config?: string;
  readonly dataDir?: string;
  readonly host: string;
  readonly port: number;
  readonly watch: boolean;
  readonly metricsPort?: number;
  readonly logLevel: LogLevel;
  readonly shutdownGraceMs: number;
  /** Worker threads running cartridges; 0 runs them on the gRPC thread (not for production). */
  readonly workers: number;
  readonly unaryWorkers: number;
  readonly callTimeoutMs: number;
  readonly inlineSliceFuel: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
  readonly tokens?: string;
  readonly insecure: boolean;
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("expected a port number 0..65535");
  }
  return port;
}

/** A parser of a count of `what` in 0..max. */
function countUpTo(max: number, what: string): (value: string) => number {
  return (value) => {
    const count = Number(value);
    if (!Number.isInteger(count) || count < 0 || count > max) {
      throw new InvalidArgumentError(`expected a number of ${what} 0..${max}`);
    }
    return count;
  };
}

const workerCount = countUpTo(MAX_WORKERS, "workers");
const unaryWorkerCount = countUpTo(MAX_UNARY_WORKERS, "unary workers");

/** The inline slice never exceeds a step's own budget (a larger slice would change nothing). */
function fuelUnits(value: string): number {
  const units = Number(value);
  if (!Number.isInteger(units) || units < 0 || units > DEFAULT_LIMITS.stepBudgetFuel) {
    throw new InvalidArgumentError(`expected fuel units 0..${DEFAULT_LIMITS.stepBudgetFuel}`);
  }
  return units;
}

function milliseconds(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0)
    throw new InvalidArgumentError("expected whole milliseconds");
  return ms;
}

/** The `serve` subcommand. */
export function serveCommand(): Command {
  return new Command("serve")
    .description(
      "Serve the cartridges in a folder over gRPC (engine.v1.Engine, cluster.v1.Cluster); with --config, as one node of a cluster.",
    )
    .option("--cartridges <dir>", "folder of .wasm cartridges (required without --config)")
    .option("--config <file>", "node config (TOML): engine, storage, transport, cluster members")
    .option(
      "--data-dir <dir>",
      "without --config: keep sessions and deployed builds in a write-ahead log in this folder, so they survive a restart",
    )
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--port <port>", "gRPC port (0 picks a free one)", portNumber, 50051)
    .option("--watch", "reload cartridges when files are added, changed or removed", false)
    .option("--metrics-port <port>", "serve Prometheus metrics on this port", portNumber)
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .option(
      "--shutdown-grace-ms <ms>",
      "how long shutdown waits for in-flight calls before cancelling them",
      milliseconds,
      10_000,
    )
    .option(
      "--workers <n>",
      "worker threads running cartridges (default: one per core; 0 runs them on the gRPC thread)",
      workerCount,
      availableParallelism(),
    )
    .option(
      "--unary-workers <n>",
      "further worker threads for unary calls only, so a Step never waits for a stream chunk",
      unaryWorkerCount,
      DEFAULT_UNARY_WORKERS,
    )
    .option(
      "--call-timeout-ms <ms>",
      "wall-clock watchdog per cartridge call: a worker still running it is replaced",
      milliseconds,
      5000,
    )
    .option(
      "--inline-slice-fuel <units>",
      "run a unary Step/Reset first on the gRPC thread with this much fuel, then in a worker " +
        "(saves the worker hop; default 0: guest code never runs on the gRPC thread)",
      fuelUnits,
      0,
    )
    .option("--tls-cert <file>", "serve TLS with this PEM certificate (chain)")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option("--tls-client-ca <file>", "require client certificates signed by this PEM CA")
    .option("--tokens <file>", "tokens file: who may call, with which roles (docs/security.md)")
    .option(
      "--insecure",
      "allow plaintext or open access on a non-loopback --host (logged and shown in health)",
      false,
    )
    .action(async function (this: Command, options: ServeOptions) {
      try {
        if (
          options.cartridges === undefined &&
          options.config === undefined &&
          options.dataDir === undefined
        ) {
          throw new Error(
            "--cartridges <dir> is required (or --data-dir DIR with deployed builds, or --config FILE.toml for a node)",
          );
        }
        if (options.config !== undefined && options.dataDir !== undefined) {
          throw new Error(
            "--data-dir is for a node without --config; a configured node keeps its state where consensus.storage says",
          );
        }
        const config =
          options.config === undefined
            ? embeddedNodeConfig({ dataDir: options.dataDir })
            : await loadNodeConfig(options.config);
        await runNode({ ...options, config });
      } catch (error) {
        // Start-up problems (missing folder, port in use) are the operator's to fix: one clear
        // line, no stack trace.
        this.error(`serve: ${error instanceof Error ? error.message : String(error)}`, {
          exitCode: 1,
        });
      }
    });
}
