import { MAX_CLUSTER_ID_BYTES } from "./limits.js";

/**
 * The 32-bit tag of a cluster id carried in every frame header (FNV-1a over its UTF-8 bytes).
 * The handshake compares full cluster ids; the tag is the per-frame check that a frame was meant
 * for this cluster, cheap enough to pay on every message. It guards against misconfiguration,
 * not attackers (that is TLS's job).
 */
export function clusterTag(clusterId: string): number {
  const bytes = Buffer.from(clusterId, "utf8");
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Throws a RangeError naming what is wrong unless `clusterId` can be used. */
export function validateClusterId(clusterId: string): void {
  const byteLength = Buffer.byteLength(clusterId, "utf8");
  if (byteLength < 1 || byteLength > MAX_CLUSTER_ID_BYTES) {
    throw new RangeError(`cluster id must be 1..${MAX_CLUSTER_ID_BYTES} UTF-8 bytes`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(clusterId)) {
    throw new RangeError("cluster id may contain only letters, digits, '.', '_' and '-'");
  }
}
