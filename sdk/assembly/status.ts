// Status codes of the cartridge ABI, version 1 (docs/abi.md, section 5). Entry points return
// them; `cartridge_rollout` returns them negated. They mirror `Status` in host/runtime/abi.ts.

/** The call succeeded. */
export const OK: i32 = 0;
/** A well-formed action that the rules forbid in this state (an occupied cell). */
export const ILLEGAL_ACTION: i32 = 1;
/** The state bytes do not decode to a reachable state. */
export const MALFORMED_STATE: i32 = 2;
/** The action bytes do not decode (out of range, NaN, outside the box). */
export const MALFORMED_ACTION: i32 = 3;
/** The state is terminal or truncated; reset instead. */
export const EPISODE_OVER: i32 = 4;
/** The hint is longer than `hint_max_bytes` or does not decode. */
export const MALFORMED_HINT: i32 = 5;
/** A count or a pointer is out of range. */
export const BAD_ARGUMENT: i32 = 6;
/** The cartridge found its own invariant broken. */
export const INTERNAL: i32 = 7;

/** The ABI version the SDK implements. */
export const ABI_VERSION: i32 = 1;
