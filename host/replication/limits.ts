/**
 * Limits of the replicated state, defined once. They are part of the replicated contract: every
 * replica enforces them identically in apply, so changing one is a protocol change (all nodes of
 * a cluster must agree on them).
 */
export const KV_LIMITS = {
  /** Most UTF-8 bytes in a key. */
  maxKeyBytes: 256,
  /** Most bytes in a value. */
  maxValueBytes: 64 * 1024,
  /** Most keys held; a write of a new key beyond it is rejected. */
  maxKeys: 100_000,
  /** Most key plus value bytes held in total; a write beyond it is rejected. */
  maxTotalBytes: 64 * 1024 * 1024,
} as const;

/** Limits of a client's identity in a request (the dedupe table keeps one record per client). */
export const CLIENT_LIMITS = {
  /** Most UTF-8 bytes in a client id. */
  maxClientIdBytes: 128,
} as const;
