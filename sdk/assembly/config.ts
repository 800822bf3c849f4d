// The numbers the adapter needs from the manifest. `cartridge build` generates the code that
// constructs this from cartridge.toml, so a game author never writes it by hand.

/** The kind of action space, as in the manifest's `action_space`. */
export const enum ActionKind {
  Discrete = 0,
  MultiDiscrete = 1,
  Box = 2,
}

/** Sizes and the action space of one cartridge, plus where its exchange region lives. */
export class CartridgeConfig {
  /** Sizes of one state, action, observation and info record, in bytes. */
  stateBytes: i32 = 0;
  actionBytes: i32 = 0;
  obsBytes: i32 = 0;
  infoBytes: i32 = 0;
  players: i32 = 1;
  /** Largest reset hint accepted, in bytes. */
  hintMaxBytes: i32 = 0;
  actionKind: ActionKind = ActionKind.Discrete;
  /** Bytes in the legal-action mask: n, sum(nvec), or 0 for a box space. */
  maskBytes: i32 = 0;
  /** Sizes of the dimensions of a discrete (one entry) or multi-discrete space. */
  nvec: StaticArray<u32> = new StaticArray<u32>(0);
  /** Bounds of a box space, one entry per element. */
  low: StaticArray<f32> = new StaticArray<f32>(0);
  high: StaticArray<f32> = new StaticArray<f32>(0);
  /** The exchange region, `[exchangePtr, exchangePtr + exchangeLen)`. */
  exchangePtr: usize = 0;
  exchangeLen: usize = 0;
}
