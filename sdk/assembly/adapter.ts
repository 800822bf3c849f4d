// Turns a typed game (see game.ts) into the entry points of docs/abi.md. The generated entry file
// of a cartridge instantiates one GameAdapter<Game, State, Action> at start-up and forwards every
// export to it; because the class is generic, each cartridge gets its own copy with direct calls
// into the game, and every buffer is allocated here once, so no entry point allocates.

import { ByteView } from "./bytes";
import { ActionKind, CartridgeConfig } from "./config";
import { Outcome } from "./outcome";
import { MASK_PADDING_BYTES, pickLegalPadded, writeUniformBox } from "./policy";
import { Rng } from "./rng";
import {
  BAD_ARGUMENT,
  EPISODE_OVER,
  INTERNAL,
  MALFORMED_HINT,
  OK,
} from "./status";

/** Stream numbers for Rng.seed: the game's generator and the rollout policy's. */
const GAME_STREAM: u32 = 0;
const POLICY_STREAM: u32 = 1;

/** Rollout flag bit 0: also write observations. Other bits are reserved. */
const ROLLOUT_FLAG_OBS: i32 = 1;

/** Adapts a game class `G` with state `S` and action `A` to the cartridge ABI. */
export class GameAdapter<G, S, A> {
  private readonly state: S;
  private readonly action: A;
  private readonly outcome: Outcome;
  private readonly rng: Rng = new Rng();
  private readonly policyRng: Rng = new Rng();
  private readonly hint: ByteView = new ByteView();
  private readonly emptyHint: ByteView = new ByteView();
  /**
   * Scratch mask for the rollout policy; never in the exchange region (the host owns that). The
   * padding after the mask lets the policy read it eight bytes at a time.
   */
  private readonly mask: StaticArray<u8>;

  constructor(
    private readonly game: G,
    private readonly config: CartridgeConfig,
  ) {
    // @ts-ignore: G is a game class (see game.ts)
    this.state = game.newState();
    // @ts-ignore: G is a game class (see game.ts)
    this.action = game.newAction();
    this.outcome = new Outcome(config.players);
    this.mask = new StaticArray<u8>(config.maskBytes + MASK_PADDING_BYTES);
  }

  /**
   * True when `[ptr, ptr + bytes)` lies inside the exchange region, for one record. Unsigned
   * wrap-around makes a pointer below the region fail the comparison too; `bytes` never exceeds
   * the region (the build sizes it from the manifest).
   */
  // @ts-ignore: decorator
  @inline private fitsOne(ptr: usize, bytes: i32): bool {
    const config = this.config;
    return ptr - config.exchangePtr <= config.exchangeLen - <usize>bytes;
  }

  /** True when `[ptr, ptr + count * stride)` lies inside the exchange region. */
  private fits(ptr: usize, count: i32, stride: i32): bool {
    const start = <u64>this.config.exchangePtr;
    const end = start + <u64>this.config.exchangeLen;
    const span = <u64>count * <u64>stride;
    return <u64>ptr >= start && <u64>ptr + span <= end;
  }

  /** Writes an info record for the state in `this.state` after a successful call. */
  // @ts-ignore: decorator
  @inline private writeInfo(infoOut: usize, status: i32): void {
    const outcome = this.outcome;
    // @ts-ignore: G is a game class (see game.ts)
    const over: bool = this.game.isOver(this.state);
    // @ts-ignore: G is a game class (see game.ts)
    const player: i32 = over ? -1 : this.game.currentPlayer(this.state);
    store<f32>(infoOut, outcome.reward);
    store<u8>(infoOut, <u8>outcome.terminated, 4);
    store<u8>(infoOut, <u8>outcome.truncated, 5);
    store<i8>(infoOut, <i8>player, 6);
    store<u8>(infoOut, <u8>status, 7);
    const rewards = outcome.playerRewards;
    const players = outcome.players;
    // One- and two-player games are the common case; straight-line stores cost no loop fuel.
    if (players <= 2) {
      store<f32>(infoOut, unchecked(rewards[0]), 8);
      if (players == 2) store<f32>(infoOut, unchecked(rewards[1]), 12);
    } else {
      for (let p = 0; p < players; p++) {
        store<f32>(infoOut + 8 + (<usize>p << 2), unchecked(rewards[p]));
      }
    }
  }

  /** Writes state, observation and info for `this.state`. */
  // @ts-ignore: decorator
  @inline private emit(stateOut: usize, obsOut: usize, infoOut: usize, withObs: bool): void {
    // @ts-ignore: G is a game class (see game.ts)
    this.game.encodeState(this.state, stateOut);
    // @ts-ignore: G is a game class (see game.ts)
    if (withObs) this.game.encodeObs(this.state, obsOut);
    this.writeInfo(infoOut, OK);
  }

  /** `cartridge_reset`: seeds the game generator, reads the hint, writes the first position. */
  reset(seed: u64, hintPtr: usize, hintLen: i32, stateOut: usize, obsOut: usize, infoOut: usize): i32 {
    const config = this.config;
    if (hintLen < 0 || hintLen > config.hintMaxBytes) return MALFORMED_HINT;
    // An empty hint may come with any pointer (the host has nothing to point at).
    if (
      (hintLen > 0 && !this.fits(hintPtr, 1, hintLen)) ||
      !this.fitsOne(stateOut, config.stateBytes) ||
      !this.fitsOne(obsOut, config.obsBytes) ||
      !this.fitsOne(infoOut, config.infoBytes)
    ) {
      return BAD_ARGUMENT;
    }
    this.hint.ptr = hintPtr;
    this.hint.length = hintLen;
    const status = this.resetState(seed, this.hint);
    if (status != OK) return status;
    this.emit(stateOut, obsOut, infoOut, true);
    return OK;
  }

  private resetState(seed: u64, hint: ByteView): i32 {
    this.rng.seed(seed, GAME_STREAM);
    this.outcome.clear();
    // @ts-ignore: G is a game class (see game.ts)
    return this.game.reset(this.state, this.rng, hint);
  }

  /**
   * Decodes the state and action at the given addresses into `this.state`/`this.action` and
   * applies the step. On OK, `this.state` holds the next state and `this.outcome` the result.
   */
  private apply(stateIn: usize, actionIn: usize): i32 {
    // @ts-ignore: G is a game class (see game.ts)
    let status: i32 = this.game.decodeState(stateIn, this.state);
    if (status != OK) return status;
    // @ts-ignore: G is a game class (see game.ts)
    if (this.game.isOver(this.state)) return EPISODE_OVER;
    // @ts-ignore: G is a game class (see game.ts)
    status = this.game.decodeAction(actionIn, this.action);
    if (status != OK) return status;
    this.outcome.clear();
    // @ts-ignore: G is a game class (see game.ts)
    status = this.game.step(this.state, this.action, this.outcome);
    if (status == OK && this.outcome.hasNaN()) return INTERNAL;
    return status;
  }

  /** `cartridge_step`: one transition; outputs are written only on OK. */
  step(stateIn: usize, actionIn: usize, stateOut: usize, obsOut: usize, infoOut: usize): i32 {
    const config = this.config;
    if (
      !this.fitsOne(stateIn, config.stateBytes) ||
      !this.fitsOne(actionIn, config.actionBytes) ||
      !this.fitsOne(stateOut, config.stateBytes) ||
      !this.fitsOne(obsOut, config.obsBytes) ||
      !this.fitsOne(infoOut, config.infoBytes)
    ) {
      return BAD_ARGUMENT;
    }
    const status = this.apply(stateIn, actionIn);
    if (status != OK) return status;
    this.emit(stateOut, obsOut, infoOut, true);
    return OK;
  }

  /**
   * `cartridge_step_batch`: `count` independent steps. A failed env gets its input state copied
   * to its output, a zeroed observation, and an info record that carries only its status, so the
   * output bytes are a function of the input bytes whatever happened.
   */
  stepBatch(
    count: i32,
    statesIn: usize,
    actionsIn: usize,
    statesOut: usize,
    obsOut: usize,
    infosOut: usize,
  ): i32 {
    const config = this.config;
    const stateBytes = config.stateBytes;
    const actionBytes = config.actionBytes;
    const obsBytes = config.obsBytes;
    const infoBytes = config.infoBytes;
    if (
      count <= 0 ||
      !this.fits(statesIn, count, stateBytes) ||
      !this.fits(actionsIn, count, actionBytes) ||
      !this.fits(statesOut, count, stateBytes) ||
      !this.fits(obsOut, count, obsBytes) ||
      !this.fits(infosOut, count, infoBytes)
    ) {
      return BAD_ARGUMENT;
    }
    for (let i = 0; i < count; i++) {
      const stateIn = statesIn + <usize>(i * stateBytes);
      const stateOut = statesOut + <usize>(i * stateBytes);
      const obs = obsOut + <usize>(i * obsBytes);
      const info = infosOut + <usize>(i * infoBytes);
      const status = this.apply(stateIn, actionsIn + <usize>(i * actionBytes));
      if (status == OK) {
        this.emit(stateOut, obs, info, true);
      } else {
        memory.copy(stateOut, stateIn, <usize>stateBytes);
        memory.fill(obs, 0, <usize>obsBytes);
        memory.fill(info, 0, <usize>infoBytes);
        store<i8>(info, -1, 6);
        store<u8>(info, <u8>status, 7);
      }
    }
    return OK;
  }

  /** `cartridge_legal_actions`: the mask of a decoded state; all zeros once it is over. */
  legalActions(stateIn: usize, maskOut: usize): i32 {
    const config = this.config;
    const maskBytes = config.maskBytes;
    if (!this.fitsOne(stateIn, config.stateBytes) || !this.fitsOne(maskOut, maskBytes)) {
      return BAD_ARGUMENT;
    }
    // @ts-ignore: G is a game class (see game.ts)
    const status: i32 = this.game.decodeState(stateIn, this.state);
    if (status != OK) return status;
    if (maskBytes == 0) return OK;
    // @ts-ignore: G is a game class (see game.ts)
    if (this.game.isOver(this.state)) {
      memory.fill(maskOut, 0, <usize>maskBytes);
    } else {
      // @ts-ignore: G is a game class (see game.ts)
      this.game.legalActions(this.state, maskOut);
    }
    return OK;
  }

  /** Writes one policy action for `this.state` at `actionOut`; returns a status. */
  // @ts-ignore: decorator
  @inline private chooseAction(actionOut: usize): i32 {
    const config = this.config;
    const kind = config.actionKind;
    if (kind == ActionKind.Box) {
      writeUniformBox(this.policyRng, config.low, config.high, actionOut);
      return OK;
    }
    const mask = changetype<usize>(this.mask);
    // @ts-ignore: G is a game class (see game.ts)
    this.game.legalActions(this.state, mask);
    if (kind == ActionKind.Discrete) {
      const chosen = pickLegalPadded(this.policyRng, mask, config.maskBytes);
      if (chosen < 0) return INTERNAL;
      store<u32>(actionOut, <u32>chosen);
      return OK;
    }
    // Multi-discrete: each dimension independently, over its own slice of the mask.
    const nvec = config.nvec;
    let offset: usize = 0;
    for (let d = 0; d < nvec.length; d++) {
      const size = unchecked(nvec[d]);
      const chosen = pickLegalPadded(this.policyRng, mask + offset, <i32>size);
      if (chosen < 0) return INTERNAL;
      store<u32>(actionOut + (<usize>d << 2), <u32>chosen);
      offset += <usize>size;
    }
    return OK;
  }

  /**
   * `cartridge_rollout`: reset with `seed`, then step under the policy until the episode ends or
   * `stepCap` steps are written. Returns the number of steps, or a negated status.
   */
  rollout(
    seed: u64,
    stepCap: i32,
    flags: i32,
    actionsOut: usize,
    statesOut: usize,
    obsOut: usize,
    infosOut: usize,
  ): i32 {
    const config = this.config;
    const stateBytes = config.stateBytes;
    const actionBytes = config.actionBytes;
    const obsBytes = config.obsBytes;
    const infoBytes = config.infoBytes;
    const withObs = (flags & ROLLOUT_FLAG_OBS) != 0;
    if (
      (flags & ~ROLLOUT_FLAG_OBS) != 0 ||
      stepCap < 0 ||
      !this.fits(actionsOut, stepCap, actionBytes) ||
      !this.fits(statesOut, stepCap, stateBytes) ||
      !this.fits(infosOut, stepCap, infoBytes) ||
      (withObs && !this.fits(obsOut, stepCap, obsBytes))
    ) {
      return -BAD_ARGUMENT;
    }
    let status = this.resetState(seed, this.emptyHint);
    if (status != OK) return -status;
    this.policyRng.seed(seed, POLICY_STREAM);
    let t: i32 = 0;
    // @ts-ignore: G is a game class (see game.ts)
    while (t < stepCap && !this.game.isOver(this.state)) {
      const actionOut = actionsOut + <usize>(t * actionBytes);
      status = this.chooseAction(actionOut);
      if (status != OK) return -status;
      // @ts-ignore: G is a game class (see game.ts)
      status = this.game.decodeAction(actionOut, this.action);
      // A policy action that does not decode or is refused means the game's mask and rules
      // disagree: that is the cartridge's own bug.
      if (status != OK) return -INTERNAL;
      this.outcome.clear();
      // @ts-ignore: G is a game class (see game.ts)
      status = this.game.step(this.state, this.action, this.outcome);
      if (status != OK || this.outcome.hasNaN()) return -INTERNAL;
      this.emit(
        statesOut + <usize>(t * stateBytes),
        obsOut + <usize>(t * obsBytes),
        infosOut + <usize>(t * infoBytes),
        withObs,
      );
      t++;
    }
    return t;
  }
}
