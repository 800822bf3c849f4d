// The classic inverted pendulum (Gymnasium's Pendulum-v1 dynamics) for the Cartridge SDK, with a
// small random disturbance torque on every step. The disturbance comes from a generator whose
// 16-byte state travels inside the state bytes, so a step stays a pure function of its inputs.
// The byte encodings are in ../README.md.

import {
  ByteView,
  MALFORMED_ACTION,
  MALFORMED_STATE,
  OK,
  Outcome,
  Rng,
} from "cartridge/sdk";

/** Physical constants, as in Gymnasium's Pendulum-v1. */
const GRAVITY: f64 = 10.0;
const MASS: f64 = 1.0;
const LENGTH: f64 = 1.0;
const DT: f64 = 0.05;
const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
/** Largest disturbance torque added to the agent's torque each step (uniform in [-d, d)). */
const DISTURBANCE_TORQUE: f64 = 0.05;
/** Steps after which an episode is truncated. */
const HORIZON: u32 = 200;
/** Largest |theta| a state may hold; 200 steps at full speed move it by at most 80 radians. */
const MAX_ABS_THETA: f32 = 10000.0;

/** Byte offsets in the state encoding. */
const THETA_OFFSET: usize = 0;
const THETA_DOT_OFFSET: usize = 4;
const STEPS_OFFSET: usize = 8;
const RNG_OFFSET: usize = 12;

/** Wraps an angle into [-pi, pi), like Gymnasium's angle_normalize (floored modulo). */
// @ts-ignore: decorator
@inline function angleNormalize(x: f64): f64 {
  let wrapped = (x + Math.PI) % (2 * Math.PI);
  if (wrapped < 0) wrapped += 2 * Math.PI;
  return wrapped - Math.PI;
}

/** The pendulum: angle (0 = upright), angular velocity, steps taken, disturbance generator. */
export class Pendulum {
  theta: f32 = 0;
  thetaDot: f32 = 0;
  steps: u32 = 0;
  readonly rng: Rng = new Rng();
}

/** The torque applied to the joint, in [-2, 2]. */
export class Torque {
  value: f32 = 0;
}

/** The game's rules, written against the SDK's game contract (sdk/assembly/game.ts). */
export class PendulumGame {
  newState(): Pendulum {
    return new Pendulum();
  }

  newAction(): Torque {
    return new Torque();
  }

  /** Starts at a random angle in [-pi, pi) and a random velocity in [-1, 1). */
  reset(pendulum: Pendulum, rng: Rng, _hint: ByteView): i32 {
    pendulum.theta = rng.nextFloatRange(<f32>-Math.PI, <f32>Math.PI);
    pendulum.thetaDot = rng.nextFloatRange(-1, 1);
    pendulum.steps = 0;
    pendulum.rng.copyFrom(rng);
    return OK;
  }

  /**
   * Gymnasium's update: the cost is measured on the state before the step, the velocity is
   * clipped to [-8, 8], and the angle integrates the new velocity (semi-implicit Euler).
   */
  // @ts-ignore: decorator
  @inline step(pendulum: Pendulum, torque: Torque, outcome: Outcome): i32 {
    const theta = <f64>pendulum.theta;
    const thetaDot = <f64>pendulum.thetaDot;
    const u = <f64>torque.value;
    const disturbance = (<f64>pendulum.rng.nextFloat() * 2 - 1) * DISTURBANCE_TORQUE;
    const normalized = angleNormalize(theta);
    const cost = normalized * normalized + 0.1 * thetaDot * thetaDot + 0.001 * u * u;
    const acceleration =
      ((3 * GRAVITY) / (2 * LENGTH)) * Math.sin(theta) +
      (3.0 / (MASS * LENGTH * LENGTH)) * (u + disturbance);
    const newThetaDot = Math.max(-MAX_SPEED, Math.min(MAX_SPEED, thetaDot + acceleration * DT));
    pendulum.theta = <f32>(theta + newThetaDot * DT);
    pendulum.thetaDot = <f32>newThetaDot;
    pendulum.steps++;
    const reward = <f32>-cost;
    outcome.reward = reward;
    outcome.setPlayerReward(0, reward);
    outcome.truncated = pendulum.steps >= HORIZON;
    return OK;
  }

  /** Box spaces have no legal-action mask; the adapter never calls this. */
  legalActions(_pendulum: Pendulum, _mask: usize): void {}

  // @ts-ignore: decorator
  @inline decodeState(ptr: usize, pendulum: Pendulum): i32 {
    const theta = load<f32>(ptr + THETA_OFFSET);
    const thetaDot = load<f32>(ptr + THETA_DOT_OFFSET);
    const steps = load<u32>(ptr + STEPS_OFFSET);
    // The comparisons are false for NaN, so a NaN angle or velocity is rejected too.
    if (!(Mathf.abs(theta) <= MAX_ABS_THETA)) return MALFORMED_STATE;
    if (!(Mathf.abs(thetaDot) <= <f32>MAX_SPEED)) return MALFORMED_STATE;
    if (steps > HORIZON) return MALFORMED_STATE;
    if (!pendulum.rng.load(ptr + RNG_OFFSET)) return MALFORMED_STATE;
    pendulum.theta = theta;
    pendulum.thetaDot = thetaDot;
    pendulum.steps = steps;
    return OK;
  }

  // @ts-ignore: decorator
  @inline encodeState(pendulum: Pendulum, ptr: usize): void {
    store<f32>(ptr + THETA_OFFSET, pendulum.theta);
    store<f32>(ptr + THETA_DOT_OFFSET, pendulum.thetaDot);
    store<u32>(ptr + STEPS_OFFSET, pendulum.steps);
    pendulum.rng.save(ptr + RNG_OFFSET);
  }

  /** 3 f32: cos(theta), sin(theta), theta_dot. */
  // @ts-ignore: decorator
  @inline encodeObs(pendulum: Pendulum, ptr: usize): void {
    const theta = <f64>pendulum.theta;
    store<f32>(ptr, <f32>Math.cos(theta));
    store<f32>(ptr, <f32>Math.sin(theta), 4);
    store<f32>(ptr, pendulum.thetaDot, 8);
  }

  // @ts-ignore: decorator
  @inline decodeAction(ptr: usize, torque: Torque): i32 {
    const value = load<f32>(ptr);
    // Written so that NaN fails the test as well as values outside the box.
    if (!(value >= -MAX_TORQUE && value <= MAX_TORQUE)) return MALFORMED_ACTION;
    torque.value = value;
    return OK;
  }

  // @ts-ignore: decorator
  @inline isOver(pendulum: Pendulum): bool {
    return pendulum.steps >= HORIZON;
  }

  // @ts-ignore: decorator
  @inline currentPlayer(_pendulum: Pendulum): i32 {
    return 0;
  }
}
