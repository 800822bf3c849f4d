import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";
import { type ActionSpaceKind, actionSpaceKind, type CartridgeManifest } from "./manifest.js";

/**
 * A seeded host-side policy that picks uniformly random legal actions, encoded as action bytes.
 * Used by validation and tests to drive a cartridge from the host with reproducible choices.
 */
export class RandomPolicy {
  private readonly rng: RandomGenerator;
  private readonly space: ActionSpaceKind;

  constructor(
    manifest: CartridgeManifest,
    seed: number,
    private readonly actionBytes = manifest.action_bytes,
  ) {
    this.rng = xoroshiro128plus(seed);
    this.space = actionSpaceKind(manifest.action_space);
  }

  /** Picks one of the indices whose mask byte is 1 in `mask[from, from + n)`, or -1 if none. */
  private pickLegal(mask: Uint8Array, from: number, n: number): number {
    let legal = 0;
    for (let i = 0; i < n; i++) if (mask[from + i] === 1) legal++;
    if (legal === 0) return -1;
    let k = uniformInt(this.rng, 0, legal - 1);
    for (let i = 0; i < n; i++) {
      if (mask[from + i] === 1 && k-- === 0) return i;
    }
    return -1;
  }

  /**
   * Action bytes for a state with legal-action `mask` (ignored for box spaces), or undefined when
   * the mask allows nothing.
   */
  choose(mask: Uint8Array): Uint8Array | undefined {
    const action = new Uint8Array(this.actionBytes);
    const view = new DataView(action.buffer);
    const space = this.space;
    if (space.kind === "discrete") {
      const a = this.pickLegal(mask, 0, space.n);
      if (a < 0) return undefined;
      view.setUint32(0, a, true);
    } else if (space.kind === "multi_discrete") {
      let from = 0;
      for (const [d, n] of space.nvec.entries()) {
        const a = this.pickLegal(mask, from, n);
        if (a < 0) return undefined;
        view.setUint32(4 * d, a, true);
        from += n;
      }
    } else {
      for (const [i, low] of space.low.entries()) {
        const high = space.high[i] ?? low;
        const fraction = uniformInt(this.rng, 0, 0xff_ffff) / 0xff_ffff;
        const value = Math.min(high, Math.max(low, Math.fround(low + (high - low) * fraction)));
        view.setFloat32(4 * i, value, true);
      }
    }
    return action;
  }
}
