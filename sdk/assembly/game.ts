// The contract a game implements, written down as documentation: AssemblyScript has no structural
// interfaces over generic parameters, and a real `interface` would make every call virtual. The
// adapter is generic over the game class, so it is compiled once per game with direct calls.
//
//   class MyGame {
//     newState(): MyState                       // allocate one state object (called once)
//     newAction(): MyAction                     // allocate one action object (called once)
//     reset(state, rng: Rng, hint: ByteView): i32
//         // Write the initial position into `state`. `rng` is freshly seeded from the reset seed;
//         // a stochastic game copies it into its state (state.rng.copyFrom(rng)) or draws from
//         // it. Return OK, or MALFORMED_HINT for a hint it cannot use.
//     step(state, action, outcome: Outcome): i32
//         // Apply `action` in place. Validate first and return ILLEGAL_ACTION before changing
//         // anything; on OK fill outcome.reward, outcome.playerRewards, terminated/truncated.
//     legalActions(state, mask: usize): void
//         // Write one byte per action (1 legal, 0 illegal). Only called for a live state.
//     decodeState(ptr: usize, state): i32
//         // Read state_bytes at ptr into `state`. Validate everything and return
//         // MALFORMED_STATE for bytes that no play can reach.
//     encodeState(state, ptr: usize): void     // write exactly state_bytes
//     encodeObs(state, ptr: usize): void       // write exactly obs_bytes
//     decodeAction(ptr: usize, action): i32    // read action_bytes; MALFORMED_ACTION if bad
//     isOver(state): bool                       // terminated or truncated
//     currentPlayer(state): i32                 // who acts next (0 for single-agent games)
//     legalBits(state): u64                     // optional, see below
//   }
//
// `legalBits` is optional: for a discrete space of at most 64 actions it returns the legal set of a
// live state as bits (bit i set exactly when legalActions would write 1 at byte i). When a game
// has it, the rollout policy draws from these bits instead of writing and gathering the byte mask;
// the picks are the same. The adapter calls every method directly, so `@inline` on the short ones
// that run on every step puts them into the entry points with no call.
//
// None of these may allocate (the stub runtime never frees): keep fixed-size fields such as
// StaticArray or plain numbers inside the state, allocated once in newState().
//
// Rollouts use the SDK's policy: uniform over the legal mask for discrete and multi-discrete
// spaces, uniform in [low, high] for box spaces, drawn from a generator distinct from the game's.
export {};
