import type { Member } from "../../core/config.js";
import type { RefusalCode } from "../../wire/control.js";

/**
 * The handshake, run on every new connection before any consensus message is read:
 *
 * 1. The dialer (always the lower replica id of the pair) sends `hello{clusterId, from, to}`.
 * 2. The acceptor checks it with {@link checkHello}; on success it answers
 *    `welcome{clusterId, replicaId}`, otherwise `refuse{code, reason}` and closes.
 * 3. The dialer checks the welcome with {@link checkWelcome} (is this the cluster, and the
 *    replica, it meant to reach at that address?) and refuses likewise.
 *
 * Until both checks passed, no other frame is accepted and nothing reaches the core.
 */
export interface HandshakeIdentity {
  readonly clusterId: string;
  readonly replicaId: number;
  readonly members: ReadonlyMap<number, Member>;
}

export interface Refusal {
  readonly code: RefusalCode;
  readonly reason: string;
}

/** Why the acceptor must refuse `hello`, or undefined to welcome it. */
export function checkHello(
  local: HandshakeIdentity,
  hello: { readonly clusterId: string; readonly from: number; readonly to: number },
  authenticatedIdentity: readonly string[] | undefined,
): Refusal | undefined {
  if (hello.clusterId !== local.clusterId) {
    return {
      code: "WrongCluster",
      reason: `peer is in cluster '${hello.clusterId}', this node is in '${local.clusterId}'`,
    };
  }
  const member = local.members.get(hello.from);
  if (member === undefined || hello.from === local.replicaId) {
    return {
      code: "UnknownReplica",
      reason: `replica ${hello.from} is not a peer in this cluster`,
    };
  }
  if (hello.to !== local.replicaId) {
    return {
      code: "WrongReplica",
      reason: `peer expected replica ${hello.to} at this address, this is replica ${local.replicaId}`,
    };
  }
  if (hello.from > local.replicaId) {
    return {
      code: "WrongDialer",
      reason: `replica ${hello.from} dialed replica ${local.replicaId}; the lower id dials`,
    };
  }
  return checkIdentity(member, authenticatedIdentity);
}

/** Why the dialer must refuse a `welcome` from the peer it meant to reach, or undefined. */
export function checkWelcome(
  local: HandshakeIdentity,
  expected: Member,
  welcome: { readonly clusterId: string; readonly replicaId: number },
  authenticatedIdentity: readonly string[] | undefined,
): Refusal | undefined {
  if (welcome.clusterId !== local.clusterId) {
    return {
      code: "WrongCluster",
      reason: `peer is in cluster '${welcome.clusterId}', this node is in '${local.clusterId}'`,
    };
  }
  if (welcome.replicaId !== expected.replicaId) {
    return {
      code: "WrongReplica",
      reason: `expected replica ${expected.replicaId} at this address, found ${welcome.replicaId}`,
    };
  }
  return checkIdentity(expected, authenticatedIdentity);
}

function checkIdentity(
  member: Member,
  authenticatedIdentity: readonly string[] | undefined,
): Refusal | undefined {
  if (authenticatedIdentity !== undefined && !authenticatedIdentity.includes(member.nodeId)) {
    const names = authenticatedIdentity.slice(0, 4).map((name) => `'${name.slice(0, 64)}'`);
    return {
      code: "IdentityMismatch",
      reason: `peer's certificate names [${names.join(", ")}] but it claims node '${member.nodeId}'`,
    };
  }
  return undefined;
}
