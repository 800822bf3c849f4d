/**
 * The only source of randomness the core uses (election-timeout jitter). Injecting it keeps the
 * core deterministic: the same seed and the same inputs give the same outputs.
 */
export interface Rng {
  /** A uniformly distributed integer in `[0, bound)`; `bound` is a positive integer. */
  nextInt(bound: number): number;
}
