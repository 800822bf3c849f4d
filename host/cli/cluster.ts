import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { Command } from "commander";
import {
  addToken,
  type ClientCredentialsOptions,
  channelCredentials,
} from "../client/credentials.js";
import { ClusterClient, type StatusResponse } from "../proto/generated/cluster/v1/cluster.js";
import { addRemoteOptions, type RemoteFlags, remoteCredentials } from "./remote.js";

/** How long one node may take to answer Status. */
const STATUS_TIMEOUT_MS = 3000;

/** Asks one node for its Status; an unreachable node gives its error instead. */
function askStatus(
  endpoint: string,
  auth: ClientCredentialsOptions,
): Promise<StatusResponse | Error> {
  const client = new ClusterClient(endpoint, channelCredentials(auth));
  const metadata = new Metadata();
  addToken(metadata, auth);
  return new Promise((resolve) => {
    client.status(
      {},
      metadata,
      { deadline: Date.now() + STATUS_TIMEOUT_MS },
      (error: ServiceError | null, response: StatusResponse) => {
        client.close();
        resolve(error === null ? response : new Error(error.details || error.message));
      },
    );
  });
}

/** Lays rows out as a table with aligned columns. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The table `cartridge cluster status` prints: one row per endpoint asked. */
export function statusTable(
  endpoints: readonly string[],
  answers: readonly (StatusResponse | Error)[],
): string {
  const rows: string[][] = [
    ["ENDPOINT", "NODE", "ROLE", "LEADER", "BALLOT", "COMMIT", "APPLIED", "QUORUM", "PEERS"],
  ];
  answers.forEach((answer, i) => {
    const endpoint = endpoints[i] ?? "";
    if (answer instanceof Error) {
      rows.push([
        endpoint,
        "-",
        "unreachable",
        "-",
        "-",
        "-",
        "-",
        "-",
        answer.message.slice(0, 60),
      ]);
      return;
    }
    const peers = answer.members
      .filter((member) => !member.isSelf)
      .map((member) =>
        member.reachable
          ? `${member.nodeId}:up${member.behindSlots > 0n ? `(-${member.behindSlots})` : ""}`
          : `${member.nodeId}:down`,
      )
      .join(" ");
    rows.push([
      endpoint,
      answer.nodeId,
      answer.role,
      answer.leaderId === "" ? "?" : `${answer.leaderId} ${answer.leaderAddress}`,
      String(answer.ballot),
      String(answer.commitIndex),
      String(answer.appliedIndex),
      answer.inQuorum ? "yes" : "no",
      peers,
    ]);
  });
  return formatTable(rows);
}

/** The `cluster` subcommand: `cartridge cluster status --endpoints HOST:PORT,...`. */
export function clusterCommand(): Command {
  const cluster = new Command("cluster").description("Inspect a Cartridge cluster.");
  const status = cluster
    .command("status")
    .description("Print each node's view of the cluster (cluster.v1.Cluster/Status) as a table.");
  addRemoteOptions(status).action(async function (this: Command, options: RemoteFlags) {
    let auth: ClientCredentialsOptions;
    try {
      auth = await remoteCredentials(options);
    } catch (error) {
      this.error(`cluster status: ${(error as Error).message}`, { exitCode: 1 });
    }
    const answers = await Promise.all(options.endpoints.map((e) => askStatus(e, auth)));
    process.stdout.write(`${statusTable(options.endpoints, answers)}\n`);
    // Non-zero when no node could be reached, so scripts can tell.
    if (answers.every((answer) => answer instanceof Error)) process.exitCode = 1;
  });
  return cluster;
}
