import { utf8Length } from "../replication/bytes.js";
import { ReplicationError } from "../replication/errors.js";
import { CLIENT_LIMITS } from "../replication/limits.js";

/** Who sent a mutating request, for the replicated dedupe table (docs/service.md, "Retries"). */
export interface Ids {
  readonly clientId: string;
  readonly requestId: number;
}

/**
 * Checks the client id and request id every mutating request of the Cluster, Sessions and
 * Manifest services carries, before anything is forwarded or proposed.
 */
export function idsOf(request: { clientId: string; requestId: bigint }): Ids {
  const clientBytes = utf8Length(request.clientId);
  if (clientBytes === 0 || clientBytes > CLIENT_LIMITS.maxClientIdBytes) {
    throw new ReplicationError(
      "BadArgument",
      `client_id must be 1 to ${CLIENT_LIMITS.maxClientIdBytes} bytes of UTF-8`,
    );
  }
  if (request.clientId.startsWith("\u0000")) {
    throw new ReplicationError("BadArgument", "client_id must not start with NUL");
  }
  if (request.requestId < 1n || request.requestId > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ReplicationError("BadArgument", "request_id must be between 1 and 2^53 - 1");
  }
  return { clientId: request.clientId, requestId: Number(request.requestId) };
}
