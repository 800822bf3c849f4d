import { ENV_ID_MAX_CHARS } from "../runtime/manifest.js";
import { DEFAULT_LIMITS } from "../runtime/sandbox-options.js";

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

/** Limits of the replicated cartridge manifest. */
export const MANIFEST_LIMITS = {
  /** Most envs (with builds or an allow-list). */
  maxEnvs: 256,
  /**
   * Most builds kept per env, the current one included. An install beyond it retires the oldest
   * build that is neither current nor pinned by a session; with none, it is rejected.
   */
  maxBuildsPerEnv: 16,
  /** Most bytes in one module: the loader's default size cap (a node must not lower it). */
  maxModuleBytes: DEFAULT_LIMITS.maxModuleBytes,
  /**
   * Most module bytes held in total. Every module is in the snapshot (which the consensus layer
   * encodes in one buffer), so this bounds the snapshot too.
   */
  maxTotalModuleBytes: 128 * 1024 * 1024,
  /** Longest env id (the cartridge manifest's own rule). */
  maxEnvIdBytes: ENV_ID_MAX_CHARS,
  /** Longest "deployed by" identity recorded with a build. */
  maxDeployedByBytes: 256,
  /** Most build hashes in one env's allow-list. */
  maxAllowedPerEnv: 64,
} as const;

/** Limits of the divergence checkpoints. */
export const CHECKPOINT_LIMITS = {
  /**
   * How many recent (slot, hash) pairs a replica keeps to compare with a checkpoint. A checkpoint
   * naming a slot older than this window is counted as unverifiable, not as a divergence.
   */
  ringEntries: 4096,
} as const;

/**
 * Limits of the replicated game sessions. Enforced in apply (identically on every replica) for
 * the state, and before proposing for request sizes. Idle expiry happens inside apply, by log
 * position and by the leader-stamped time the commands carry (never a clock read in apply).
 */
export const SESSION_LIMITS = {
  /** Most open sessions in total; a create beyond it is rejected (after expiring idle ones). */
  maxSessions: 10_000,
  /** Most open sessions one client id owns. */
  maxSessionsPerClient: 256,
  /** Most steps (actions) one session takes; a step beyond it is rejected. */
  maxStepsPerSession: 10_000,
  /** Most action bytes one session holds (its export), summed over its steps. */
  maxActionBytesPerSession: 1024 * 1024,
  /**
   * Most bytes all open sessions hold together (state, hint, actions, last transition): bounds
   * the part's memory and snapshot. A create or step that would exceed it is rejected.
   */
  maxTotalBytes: 256 * 1024 * 1024,
  /** Most bytes in one action. */
  maxActionBytes: 4096,
  /** Most bytes in a create's hint. */
  maxHintBytes: 4096,
  /** Most UTF-8 bytes in an env id or a build id of a create. */
  maxIdBytes: 128,
  /** A session with no create/step for this many slots expires. */
  idleExpirySlots: 1_000_000,
  /**
   * A session with no create/step for this long (by leader-stamped time) expires. The part's
   * time is the largest stamp seen, so a leader whose clock runs far ahead expires idle sessions
   * early (and never the other way round): nodes are assumed NTP-synchronised.
   */
  idleExpiryMs: 60 * 60 * 1000,
  /** Most sessions a List answers in one page. */
  maxListPage: 1000,
} as const;
