/**
 * Every bound the server puts on a request or a response. The defaults are chosen so that a single
 * call cannot hold more than a few tens of MiB of memory, and each one can be overridden by the
 * operator (`cartridge serve` flags or `startServer` options).
 */
export interface ServerLimits {
  /** Largest request message accepted, in bytes (grpc.max_receive_message_length). */
  readonly maxReceiveMessageBytes: number;
  /** Largest response message sent, in bytes (grpc.max_send_message_length). */
  readonly maxSendMessageBytes: number;
  /** Largest number of envs in one BatchSimulate vector step. */
  readonly maxVectorEnvs: number;
  /** Largest number of episodes in one BatchSimulate rollout request. */
  readonly maxRolloutEpisodes: number;
  /** Largest `episodes * step_cap` of one rollout request. */
  readonly maxRolloutTotalSteps: number;
  /** Rows per chunk when the client does not choose (and the cap on what it may choose). */
  readonly defaultChunkRows: number;
  readonly maxChunkRows: number;
  /**
   * Soft cap on the encoded size of one chunk, in bytes; rows per chunk shrink to fit it. Measured
   * on loopback, messages of 100-300 KiB stream fastest: much larger ones stall on HTTP/2 flow
   * control and framing, much smaller ones pay per-message costs.
   */
  readonly chunkTargetBytes: number;
  /** BatchSimulate calls in progress at once; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxConcurrentBatches: number;
  /**
   * BatchSimulate calls in progress at once from one client address, so that one client cannot
   * take every slot of `maxConcurrentBatches`; more are refused with RESOURCE_EXHAUSTED.
   */
  readonly maxBatchesPerClient: number;
  /**
   * How long a BatchSimulate stream may go unread (its client not taking chunks) before the server
   * cancels it with RESOURCE_EXHAUSTED and frees its slot, in ms.
   */
  readonly stalledStreamMs: number;
  /**
   * BatchSimulate chunks a stream may have written but not yet handed to HTTP/2; the stream
   * simulates nothing more until one leaves. With `chunkTargetBytes` this bounds a stream's memory.
   */
  readonly maxInFlightChunks: number;
  /**
   * Reset and Step calls in progress at once (waiting for a worker or running); more are refused
   * with RESOURCE_EXHAUSTED (`LimitExceeded`), so that a flood of unary calls cannot grow the
   * worker pool's queue, and the memory of their requests, without bound.
   */
  readonly maxGuestCalls: number;
  /**
   * Reset and Step calls in progress at once from one client address, so that one client cannot
   * take every slot of `maxGuestCalls` and starve the others.
   */
  readonly maxGuestCallsPerClient: number;
  /** How long graceful shutdown waits for in-flight calls before cancelling them, in ms. */
  readonly shutdownGraceMs: number;
  /** WatchSession streams open at once; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxWatchStreams: number;
  /** WatchSession streams open at once from one client address. */
  readonly maxWatchStreamsPerClient: number;
  /**
   * Longest a session read waits for this node to apply its `min_applied_index` (the call's own
   * deadline may be shorter), in ms; then it fails with DEADLINE_EXCEEDED.
   */
  readonly maxReadWaitMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxReceiveMessageBytes: 32 * 1024 * 1024,
  maxSendMessageBytes: 32 * 1024 * 1024,
  maxVectorEnvs: 65_536,
  maxRolloutEpisodes: 1_000_000,
  maxRolloutTotalSteps: 1_000_000_000,
  defaultChunkRows: 4096,
  maxChunkRows: 262_144,
  chunkTargetBytes: 256 * 1024,
  maxConcurrentBatches: 64,
  maxBatchesPerClient: 16,
  stalledStreamMs: 30_000,
  maxInFlightChunks: 4,
  maxGuestCalls: 4096,
  maxGuestCallsPerClient: 512,
  shutdownGraceMs: 10_000,
  maxWatchStreams: 1024,
  maxWatchStreamsPerClient: 64,
  maxReadWaitMs: 30_000,
};
