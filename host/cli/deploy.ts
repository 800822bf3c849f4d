import { createHash, randomBytes } from "node:crypto";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { Command, InvalidArgumentError } from "commander";
import {
  addToken,
  type ClientCredentialsOptions,
  channelCredentials,
} from "../client/credentials.js";
import { type DeployResponse, ManifestClient } from "../proto/generated/manifest/v1/manifest.js";
import { readModuleFile } from "../runtime/module-file.js";
import { DEFAULT_LIMITS } from "../runtime/sandbox-options.js";
import { formatReport, validateCartridge } from "../runtime/validate.js";
import { ERROR_CODE_METADATA_KEY } from "../server/status.js";
import { addRemoteOptions, callLeader, type RemoteFlags, remoteCredentials } from "./remote.js";

/** Steps of the local validation rollout (as `cartridge validate`). */
const VALIDATION_ROLLOUT_STEPS = 64;
/** One Deploy attempt's deadline: the leader validates the module and commits it. */
const ATTEMPT_TIMEOUT_MS = 15_000;
/** How long the command keeps looking for a leader that answers. */
const DEFAULT_TIMEOUT_MS = 60_000;
/** Largest gRPC message the deploy channel sends: the module cap plus room for the fields. */
const MAX_SEND_BYTES = DEFAULT_LIMITS.maxModuleBytes + 64 * 1024;

/** What a deploy did, as printed. */
export interface DeployOutcome {
  readonly envId: string;
  readonly buildId: string;
  /** The log slot the install was committed in. */
  readonly index: bigint;
  readonly current: boolean;
}

/** Options of {@link deployModule}. */
export interface DeployOptions {
  readonly endpoints: readonly string[];
  readonly credentials: ClientCredentialsOptions;
  readonly makeCurrent: boolean;
  readonly timeoutMs: number;
  readonly onRetry?: (address: string, error: ServiceError) => void;
}

function deployOnce(
  address: string,
  request: Parameters<ManifestClient["deploy"]>[0],
  auth: ClientCredentialsOptions,
): Promise<DeployResponse> {
  const client = new ManifestClient(address, channelCredentials(auth), {
    "grpc.max_send_message_length": MAX_SEND_BYTES,
  });
  const metadata = new Metadata();
  addToken(metadata, auth);
  return new Promise<DeployResponse>((resolve, reject) => {
    client.deploy(
      request,
      metadata,
      { deadline: Date.now() + ATTEMPT_TIMEOUT_MS },
      (error: ServiceError | null, response: DeployResponse) => {
        client.close();
        if (error === null) resolve(response);
        else reject(error);
      },
    );
  });
}

/**
 * Pushes a module that already passed local validation to the cluster's leader (manifest.v1
 * Deploy), following the leader across refusals and failovers. Every attempt carries the same
 * client id and request id, so a retry after an unknown outcome installs the build once.
 */
export async function deployModule(
  module: Uint8Array,
  options: DeployOptions,
): Promise<DeployOutcome> {
  const request = {
    clientId: `deploy-${randomBytes(8).toString("hex")}`,
    requestId: 1n,
    module: Buffer.from(module.buffer, module.byteOffset, module.byteLength),
    makeCurrent: options.makeCurrent,
    // Lets the node check that the bytes it received are the bytes validated here.
    sha256: createHash("sha256").update(module).digest("hex"),
  };
  const response = await callLeader(
    options.endpoints,
    (address) => deployOnce(address, request, options.credentials),
    {
      totalTimeoutMs: options.timeoutMs,
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    },
  );
  return {
    envId: response.build?.envId ?? "",
    buildId: response.build?.buildId ?? "",
    index: response.index,
    current: response.build?.current ?? false,
  };
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

/** What went wrong, in one line: a gRPC refusal with its typed code, or a local error. */
function describeFailure(error: unknown): string {
  const serviceError = error as Partial<ServiceError>;
  if (typeof serviceError.code === "number") {
    const code =
      serviceError.metadata?.get(ERROR_CODE_METADATA_KEY)[0] ?? status[serviceError.code];
    return `${serviceError.details ?? serviceError.message} (${String(code)})`;
  }
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
    onRetry: (address, error) =>
      process.stderr.write(`  ${address}: ${error.details || error.message}; retrying\n`),
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
