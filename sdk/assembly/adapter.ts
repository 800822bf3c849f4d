// Turns a typed game (see game.ts) into the entry points of docs/abi.md. The generated entry file
// of a cartridge instantiates one GameAdapter<Game, State, Action, Settings> at start-up and
// exports the ABI functions, each a call of one method here. The class is generic over the game's
// concrete classes and over a settings class of compile-time constants (config.ts), and the entry
// points are `@inline`: each cartridge gets one straight function per entry point with the game's
// (small, inlinable) methods and every size folded in, instead of calls through objects. Every
// buffer is allocated here once, so no entry point allocates.

import { ByteView } from "./bytes";
import { ActionKind } from "./config";
import { Outcome } from "./outcome";
import { MASK_PADDING_BYTES, pickLegalBits, pickLegalPadded, writeUniformBox } from "./policy";
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

/** Most discrete actions whose legal set fits in the u64 of a game's `legalBits`. */
const LEGAL_BITS_MAX = 64;

/**
 * Adapts a game class `G` with state `S` and action `A` to the cartridge ABI, with the sizes and
 * the action space of settings class `C`.
 */
export class GameAdapter<G, S, A, C> {
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

  constructor(private readonly game: G) {
    // `this.settings` before every field is set would be a use of `this`; see `settings` below.
    const settings = changetype<C>(0);
    // @ts-ignore: G is a game class (see game.ts)
    this.state = game.newState();
    // @ts-ignore: G is a game class (see game.ts)
    this.action = game.newAction();
    // @ts-ignore: C is a settings class (see config.ts)
    this.outcome = new Outcome(settings.players);
    // @ts-ignore: C is a settings class (see config.ts)
    this.mask = new StaticArray<u8>(settings.maskBytes + MASK_PADDING_BYTES);
  }

  /**
   * The settings. A settings class has no fields, only `@inline` getters that return constants
   * (config.ts), so its getters never read their receiver and no instance is needed: a null
   * reference of the class is enough to name them, and unlike a field it costs no load.
   */
  // @ts-ignore: decorator
  @inline private get settings(): C {
    return changetype<C>(0);
  }

  /**
   * True when `[ptr, ptr + bytes)` lies inside the exchange region, for one record. Unsigned
   * wrap-around makes a pointer below the region fail the comparison too; `bytes` never exceeds
   * the region (the build sizes it from the manifest).
   */
  // @ts-ignore: decorator
  @inline private fitsOne(ptr: usize, bytes: i32): bool {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    return ptr - settings.exchangePtr <= settings.exchangeLen - <usize>bytes;
  }

  /** True when `[ptr, ptr + count * stride)` lies inside the exchange region. */
  // @ts-ignore: decorator
  @inline private fits(ptr: usize, count: i32, stride: i32): bool {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    const start = <u64>settings.exchangePtr;
    // @ts-ignore: C is a settings class (see config.ts)
    const end = start + <u64>settings.exchangeLen;
    const span = <u64>count * <u64>stride;
    return <u64>ptr >= start && <u64>ptr + span <= end;
  }

  /** Writes an info record for the state in `this.state` after a successful call. */
  // @ts-ignore: decorator
  @inline private writeInfo(infoOut: usize, status: i32): void {
    const outcome = this.outcome;
    // @ts-ignore: C is a settings class (see config.ts)
    const players: i32 = this.settings.players;
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
    // `players` is a constant: one and two players compile to straight-line stores.
    if (players >= 1) store<f32>(infoOut, unchecked(rewards[0]), 8);
    if (players >= 2) store<f32>(infoOut, unchecked(rewards[1]), 12);
    if (players > 2) {
      for (let p = 2; p < players; p++) {
        store<f32>(infoOut + 8 + (<usize>p << 2), unchecked(rewards[p]));
      }
    }
  }

  /** Writes state, observation (when `withObs`) and info for `this.state`. */
  // @ts-ignore: decorator
  @inline private emit(stateOut: usize, obsOut: usize, infoOut: usize, withObs: bool): void {
    // @ts-ignore: G is a game class (see game.ts)
    this.game.encodeState(this.state, stateOut);
    // @ts-ignore: G is a game class (see game.ts)
    if (withObs) this.game.encodeObs(this.state, obsOut);
    this.writeInfo(infoOut, OK);
  }

  /** `cartridge_reset`: seeds the game generator, reads the hint, writes the first position. */
  // @ts-ignore: decorator
  @inline reset(
    seed: u64,
    hintPtr: usize,
    hintLen: i32,
    stateOut: usize,
    obsOut: usize,
    infoOut: usize,
  ): i32 {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    if (hintLen < 0 || hintLen > settings.hintMaxBytes) return MALFORMED_HINT;
    // An empty hint may come with any pointer (the host has nothing to point at).
    if (
      (hintLen > 0 && !this.fits(hintPtr, 1, hintLen)) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(stateOut, settings.stateBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(obsOut, settings.obsBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(infoOut, settings.infoBytes)
    ) {
      return BAD_ARGUMENT;
    }
    const hint = this.hint;
    hint.ptr = hintPtr;
    hint.length = hintLen;
    const status = this.resetState(seed, hint);
    if (status != OK) return status;
    this.emit(stateOut, obsOut, infoOut, true);
    return OK;
  }

  // @ts-ignore: decorator
  @inline private resetState(seed: u64, hint: ByteView): i32 {
    const rng = this.rng;
    rng.seed(seed, GAME_STREAM);
    // @ts-ignore: C is a settings class (see config.ts)
    this.outcome.clearFor(this.settings.players);
    // @ts-ignore: G is a game class (see game.ts)
    return this.game.reset(this.state, rng, hint);
  }

  /**
   * Applies the action already decoded into `this.action` to `this.state`. On OK, `this.state`
   * holds the next state and `this.outcome` the result; a NaN reward is INTERNAL.
   */
  // @ts-ignore: decorator
  @inline private applyDecoded(): i32 {
    const outcome = this.outcome;
    // @ts-ignore: C is a settings class (see config.ts)
    const players: i32 = this.settings.players;
    outcome.clearFor(players);
    // @ts-ignore: G is a game class (see game.ts)
    const status: i32 = this.game.step(this.state, this.action, outcome);
    if (status == OK && outcome.hasNaNFor(players)) return INTERNAL;
    return status;
  }

  /**
   * Decodes the state and action at the given addresses into `this.state`/`this.action` and
   * applies the step. On OK, `this.state` holds the next state and `this.outcome` the result.
   */
  // @ts-ignore: decorator
  @inline private apply(stateIn: usize, actionIn: usize): i32 {
    const game = this.game;
    const state = this.state;
    // @ts-ignore: G is a game class (see game.ts)
    let status: i32 = game.decodeState(stateIn, state);
    if (status != OK) return status;
    // @ts-ignore: G is a game class (see game.ts)
    if (game.isOver(state)) return EPISODE_OVER;
    // @ts-ignore: G is a game class (see game.ts)
    status = game.decodeAction(actionIn, this.action);
    if (status != OK) return status;
    return this.applyDecoded();
  }

  /** `cartridge_step`: one transition; outputs are written only on OK. */
  // @ts-ignore: decorator
  @inline step(stateIn: usize, actionIn: usize, stateOut: usize, obsOut: usize, infoOut: usize): i32 {
    const settings = this.settings;
    if (
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(stateIn, settings.stateBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(actionIn, settings.actionBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(stateOut, settings.stateBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(obsOut, settings.obsBytes) ||
      // @ts-ignore: C is a settings class (see config.ts)
      !this.fitsOne(infoOut, settings.infoBytes)
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
  // @ts-ignore: decorator
  @inline stepBatch(
    count: i32,
    statesIn: usize,
    actionsIn: usize,
    statesOut: usize,
    obsOut: usize,
    infosOut: usize,
  ): i32 {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    const stateBytes: i32 = settings.stateBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const actionBytes: i32 = settings.actionBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const obsBytes: i32 = settings.obsBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const infoBytes: i32 = settings.infoBytes;
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
    let stateIn = statesIn;
    let actionIn = actionsIn;
    let stateOut = statesOut;
    let obs = obsOut;
    let info = infosOut;
    for (let i = 0; i < count; i++) {
      const status = this.apply(stateIn, actionIn);
      if (status == OK) {
        this.emit(stateOut, obs, info, true);
      } else {
        memory.copy(stateOut, stateIn, <usize>stateBytes);
        memory.fill(obs, 0, <usize>obsBytes);
        memory.fill(info, 0, <usize>infoBytes);
        store<i8>(info, -1, 6);
        store<u8>(info, <u8>status, 7);
      }
      stateIn += <usize>stateBytes;
      actionIn += <usize>actionBytes;
      stateOut += <usize>stateBytes;
      obs += <usize>obsBytes;
      info += <usize>infoBytes;
    }
    return OK;
  }

  /** `cartridge_legal_actions`: the mask of a decoded state; all zeros once it is over. */
  // @ts-ignore: decorator
  @inline legalActions(stateIn: usize, maskOut: usize): i32 {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    const maskBytes: i32 = settings.maskBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    if (!this.fitsOne(stateIn, settings.stateBytes) || !this.fitsOne(maskOut, maskBytes)) {
      return BAD_ARGUMENT;
    }
    const game = this.game;
    const state = this.state;
    // @ts-ignore: G is a game class (see game.ts)
    const status: i32 = game.decodeState(stateIn, state);
    if (status != OK) return status;
    if (maskBytes == 0) return OK;
    // @ts-ignore: G is a game class (see game.ts)
    if (game.isOver(state)) {
      memory.fill(maskOut, 0, <usize>maskBytes);
    } else {
      // @ts-ignore: G is a game class (see game.ts)
      game.legalActions(state, maskOut);
    }
    return OK;
  }

  /** Writes one policy action for `this.state` at `actionOut`; returns a status. */
  // @ts-ignore: decorator
  @inline private chooseAction(actionOut: usize): i32 {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    const kind: ActionKind = settings.actionKind;
    const policyRng = this.policyRng;
    if (kind == ActionKind.Box) {
      // @ts-ignore: C is a settings class (see config.ts)
      writeUniformBox(policyRng, settings.low, settings.high, actionOut);
      return OK;
    }
    // @ts-ignore: C is a settings class (see config.ts)
    const maskBytes: i32 = settings.maskBytes;
    // A game that implements the optional `legalBits(state): u64` gives a discrete space of at
    // most 64 actions as bits, with no mask to write and gather (the test is resolved at compile
    // time: a game without the method compiles only the mask path).
    // @ts-ignore: G is a game class (see game.ts)
    if (isDefined(this.game.legalBits)) {
      if (kind == ActionKind.Discrete && maskBytes <= LEGAL_BITS_MAX) {
        // @ts-ignore: G is a game class (see game.ts)
        const bits: u64 = this.game.legalBits(this.state);
        const chosen = pickLegalBits(policyRng, bits, maskBytes);
        if (chosen < 0) return INTERNAL;
        store<u32>(actionOut, <u32>chosen);
        return OK;
      }
    }
    const mask = changetype<usize>(this.mask);
    // @ts-ignore: G is a game class (see game.ts)
    this.game.legalActions(this.state, mask);
    if (kind == ActionKind.Discrete) {
      const chosen = pickLegalPadded(policyRng, mask, maskBytes);
      if (chosen < 0) return INTERNAL;
      store<u32>(actionOut, <u32>chosen);
      return OK;
    }
    // Multi-discrete: each dimension independently, over its own slice of the mask.
    // @ts-ignore: C is a settings class (see config.ts)
    const nvec: StaticArray<u32> = settings.nvec;
    let offset: usize = 0;
    for (let d = 0; d < nvec.length; d++) {
      const size = unchecked(nvec[d]);
      const chosen = pickLegalPadded(policyRng, mask + offset, <i32>size);
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
  // @ts-ignore: decorator
  @inline rollout(
    seed: u64,
    stepCap: i32,
    flags: i32,
    actionsOut: usize,
    statesOut: usize,
    obsOut: usize,
    infosOut: usize,
  ): i32 {
    const settings = this.settings;
    // @ts-ignore: C is a settings class (see config.ts)
    const stateBytes: i32 = settings.stateBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const actionBytes: i32 = settings.actionBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const obsBytes: i32 = settings.obsBytes;
    // @ts-ignore: C is a settings class (see config.ts)
    const infoBytes: i32 = settings.infoBytes;
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
    const game = this.game;
    const state = this.state;
    let actionOut = actionsOut;
    let stateOut = statesOut;
    let obs = obsOut;
    let info = infosOut;
    let t: i32 = 0;
    // @ts-ignore: G is a game class (see game.ts)
    while (t < stepCap && !game.isOver(state)) {
      status = this.chooseAction(actionOut);
      if (status != OK) return -status;
      // @ts-ignore: G is a game class (see game.ts)
      status = game.decodeAction(actionOut, this.action);
      // A policy action that does not decode or is refused means the game's mask and rules
      // disagree: that is the cartridge's own bug.
      if (status != OK) return -INTERNAL;
      if (this.applyDecoded() != OK) return -INTERNAL;
      this.emit(stateOut, obs, info, withObs);
      actionOut += <usize>actionBytes;
      stateOut += <usize>stateBytes;
      obs += <usize>obsBytes;
      info += <usize>infoBytes;
      t++;
    }
    return t;
  }
}
