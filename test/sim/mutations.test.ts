import { describe, expect, it } from "vitest";
import { CI_SEEDS } from "./batch.js";
import { MUTATIONS, measure, mutationProblem } from "./mutations.js";
import { seedParameters } from "./simulator.js";

/**
 * Deliberate bugs the fixed CI seeds catch early (see the "Does the simulator bite?" table in
 * docs/consensus.md for every mutation's detection rate). Each runs the CI seeds in order until
 * one fails, so this costs a few dozen seeds per mutation.
 */
const CAUGHT_EARLY: readonly {
  readonly name: string;
  readonly withinSeeds: number;
  /** Only seeds of this cluster size (a bug only even sizes can show). */
  readonly size?: number;
}[] = [
  { name: "recovery-noops", withinSeeds: 30 },
  { name: "promise-not-persisted", withinSeeds: 30 },
  { name: "follower-commit-any-ballot", withinSeeds: 100 },
  { name: "even-quorum-half", withinSeeds: 30, size: 4 },
  { name: "applied-before-complete", withinSeeds: 30 },
];

describe("the simulator catches deliberate protocol bugs", () => {
  it.each(CAUGHT_EARLY)(
    "catches $name within the first $withinSeeds CI seeds",
    { timeout: 240_000 },
    async ({ name, withinSeeds, size }) => {
      const mutation = MUTATIONS.find((candidate) => candidate.name === name);
      expect(mutation, `no mutation ${name}`).toBeDefined();
      if (mutation === undefined) {
        return;
      }
      const seeds = CI_SEEDS.filter(
        (seed) => size === undefined || seedParameters(seed).replicas === size,
      ).slice(0, withinSeeds);
      const found = await measure(mutation, seeds, true);
      expect(found.caught, `${name} survived ${found.seeds} seeds`).toBe(1);
    },
  );

  it("still applies every mutation to the current code", () => {
    expect(MUTATIONS.map(mutationProblem).filter((problem) => problem !== undefined)).toEqual([]);
  });
});
