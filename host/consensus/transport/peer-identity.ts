/**
 * How a node certificate names the replica it belongs to: a subjectAltName URI
 * `urn:cartridge:replica:<replica id>`. `cartridge certs init` writes it; the TLS transport
 * refuses a peer whose certificate does not name the replica id it claims in its handshake.
 */
export const REPLICA_URI_PREFIX = "urn:cartridge:replica:";

/** The replica URI for `replicaId`, as it goes into a certificate. */
export function replicaUri(replicaId: string): string {
  return `${REPLICA_URI_PREFIX}${replicaId}`;
}

/**
 * The replica ids a certificate names, from Node's `subjectaltname` string
 * ("URI:urn:cartridge:replica:1, DNS:localhost, IP Address:127.0.0.1").
 */
export function replicaIdsIn(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  return subjectAltName
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`URI:${REPLICA_URI_PREFIX}`))
    .map((part) => part.slice(`URI:${REPLICA_URI_PREFIX}`.length));
}
