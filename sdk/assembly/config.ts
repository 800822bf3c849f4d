// The numbers the adapter needs from the manifest. `cartridge build` generates a settings class
// from cartridge.toml, so a game author never writes one by hand.
//
// The settings are compile-time constants: the generated class answers every question with an
// `@inline` getter that returns a literal, and the adapter is generic over that class, so every
// size, the action space and the exchange region fold into the code. Branches on the action kind
// or the player count disappear, bounds checks become one comparison against a constant, and
// nothing is loaded from memory to learn a size. The contract, written as documentation for the
// same reason as game.ts (AssemblyScript has no structural interfaces over generic parameters):
//
//   class Settings {                     // no fields: the adapter never makes an instance
//     @inline get stateBytes(): i32        // sizes of one state, action, observation, info record
//     @inline get actionBytes(): i32
//     @inline get obsBytes(): i32
//     @inline get infoBytes(): i32         // 8 + 4 * players
//     @inline get players(): i32
//     @inline get hintMaxBytes(): i32      // largest reset hint accepted
//     @inline get actionKind(): ActionKind
//     @inline get maskBytes(): i32         // bytes in the legal mask: n, sum(nvec), 0 for a box
//     @inline get nvec(): StaticArray<u32> // dimensions of a discrete (one entry) or multi-discrete
//     @inline get low(): StaticArray<f32>  // bounds of a box space, one entry per element
//     @inline get high(): StaticArray<f32>
//     @inline get exchangePtr(): usize     // the exchange region, [ptr, ptr + len)
//     @inline get exchangeLen(): usize
//   }

/** The kind of action space, as in the manifest's `action_space`. */
export const enum ActionKind {
  Discrete = 0,
  MultiDiscrete = 1,
  Box = 2,
}
