import { createHash } from "node:crypto";
import { Command, InvalidArgumentError } from "commander";
import type { ClientCredentialsOptions } from "../client/credentials.js";
import { EngineCallError, EngineClient } from "../client/index.js";
import { readModuleFile } from "../runtime/module-file.js";
import { DEFAULT_LIMITS } from "../runtime/sandbox-options.js";
import { formatReport, validateCartridge } from "../runtime/validate.js";
import { addRemoteOptions, type RemoteFlags, remoteCredentials } from "./remote.js";

/** Steps of the local validation rollout (as `cartridge validate`). */
const VALIDATION_ROLLOUT_STEPS = 64;
/** How long connecting to one endpoint may take before the next is tried. */
const CONNECT_TIMEOUT_MS = 3000;
/** How long the command keeps looking for a leader that takes the module. */
const DEFAULT_TIMEOUT_MS = 60_000;

/** What a deploy did, as printed. */
export interface DeployOutcome {
  readonly envId: string;
  readonly buildId: string;
  /** The log slot the install was committed in. */
  readonly index: number;
  readonly current: boolean;
}

/** Options of {@link deployModule}. */
export interface DeployOptions {
  readonly endpoints: readonly string[];
  readonly credentials: ClientCredentialsOptions;
  readonly makeCurrent: boolean;
  /** How long the deploy may keep looking for a leader that takes it, in ms. */
  readonly timeoutMs: number;
}

/**
 * A client of the first endpoint that answers, knowing the others: it follows the leader through
 * refusals and failovers (host/client's failover channel).
 */
async function connectAny(options: DeployOptions): Promise<EngineClient> {
  let last: unknown = new Error("no endpoints");
  for (const address of options.endpoints) {
    try {
      return await EngineClient.connect(address, {
        ...options.credentials,
        endpoints: options.endpoints,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        failoverTimeoutMs: options.timeoutMs,
      });
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

/**
 * Pushes a module that already passed local validation to the cluster's leader (manifest.v1
 * Deploy). The client retries through leader changes with one client id and request id, so the
 * build is installed once.
 */
export async function deployModule(
  module: Uint8Array,
  options: DeployOptions,
): Promise<DeployOutcome> {
  const client = await connectAny(options);
  try {
    const { build, index } = await client.deploy(module, {
      makeCurrent: options.makeCurrent,
      // Lets the node check that the bytes it received are the bytes validated here.
      sha256: createHash("sha256").update(module).digest("hex"),
      timeoutMs: options.timeoutMs,
    });
    return { envId: build.envId, buildId: build.buildId, index, current: build.current };
  } finally {
    client.close();
  }
}

function milliseconds(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1)
    throw new InvalidArgumentError("expected whole milliseconds");
  return ms;
}

interface DeployFlags extends RemoteFlags {
  readonly makeCurrent: boolean;
  readonly timeoutMs: number;
}

/** What went wrong, in one line: a refusal with its typed code, or a local error. */
function describeFailure(error: unknown): string {
  if (error instanceof EngineCallError) return `${error.message} (${error.errorCode})`;
  return error instanceof Error ? error.message : String(error);
}

/** Validates `file` locally, deploys it, prints what was deployed; returns a failure, if any. */
async function validateAndDeploy(file: string, flags: DeployFlags): Promise<string | undefined> {
  const bytes = await readModuleFile(file, DEFAULT_LIMITS.maxModuleBytes);
  // A broken module never reaches the log: the same checks as `cartridge validate`.
  const report = await validateCartridge(bytes, {
    source: file,
    rolloutSteps: VALIDATION_ROLLOUT_STEPS,
  });
  if (!report.ok) {
    process.stderr.write(`${formatReport(report)}\n`);
    return "the module is not valid; nothing was sent";
  }
  const outcome = await deployModule(bytes, {
    endpoints: flags.endpoints,
    credentials: await remoteCredentials(flags),
    makeCurrent: flags.makeCurrent,
    timeoutMs: flags.timeoutMs,
  });
  process.stdout.write(
    `deployed ${outcome.envId} build ${outcome.buildId} at index ${outcome.index}${outcome.current ? " (current)" : ""}\n`,
  );
  return undefined;
}

/** `cartridge deploy FILE.wasm --endpoints HOST:PORT,...`. */
export function deployCommand(): Command {
  const command = new Command("deploy")
    .description(
      "Validate a cartridge module locally, then install it in a cluster's replicated manifest (every node serves it).",
    )
    .argument("<file>", "the .wasm module");
  addRemoteOptions(command)
    .option("--no-make-current", "install the build without making it the env's current one")
    .option(
      "--timeout-ms <ms>",
      "give up when no leader accepted the module within this long",
      milliseconds,
      DEFAULT_TIMEOUT_MS,
    )
    .action(async function (this: Command, file: string, flags: DeployFlags) {
      let failure: string | undefined;
      try {
        failure = await validateAndDeploy(file, flags);
      } catch (error) {
        failure = describeFailure(error);
      }
      if (failure !== undefined) this.error(`deploy: ${failure}`, { exitCode: 1 });
    });
  return command;
}
