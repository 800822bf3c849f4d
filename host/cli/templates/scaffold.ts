/**
 * The files `cartridge new` writes: a complete two-player discrete game (Nim: take 1-3 stones,
 * whoever takes the last one wins) that builds and validates as it is and shows every part of the
 * SDK's game contract, including the seeded generator.
 */

/** What the templates are filled with. */
export interface ScaffoldOptions {
  /** The cartridge's name; the env id is `${name}-v1`. */
  readonly name: string;
  /** The game class name, derived from the name (PascalCase). */
  readonly className: string;
  /** Import specifier of the SDK's index from the new `assembly/` folder. */
  readonly sdkImport: string;
}

/** Turns `my-game_2` into `MyGame2`. */
export function classNameFor(name: string): string {
  const pascal = name
    .split(/[-_.]+/)
    .filter((part) => part !== "")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
  return /^[A-Za-z_]/.test(pascal) ? pascal : `Game${pascal}`;
}

function toml(o: ScaffoldOptions): string {
  return `# The cartridge's manifest (docs/abi.md, section 3) and how to build it.
# \`cartridge build .\` checks this file, compiles assembly/game.ts and validates the result.

[build]
# The file that defines the game class, and the names of the game, state and action classes.
entry = "assembly/game.ts"
class = "${o.className}"
state = "State"
action = "Action"

[manifest]
env_id = "${o.name}-v1"
version = "0.1.0"
description = "Nim: take 1 to 3 stones; whoever takes the last stone wins."
players = 2
# The longest possible game: one stone per move from the largest pile.
max_horizon = 21
preferred_batch = 32
state_bytes = 3
action_bytes = 4
obs_bytes = 8
hint_max_bytes = 0

[manifest.encoding]
state = "nim_u8:v1"
action = "discrete:v1"
obs = "f32x2:v1"
schema_version = 1

[manifest.action_space.discrete]
n = 3

[manifest.observation]
dtype = "f32"
shape = [2]
`;
}

function game(o: ScaffoldOptions): string {
  return `// ${o.className}: Nim for two players. A pile of 10 to 21 stones (chosen from the reset seed);
// players take turns removing 1, 2 or 3 stones; whoever takes the last stone wins.
//
// The class below implements the SDK's game contract (sdk/assembly/game.ts). The SDK's adapter
// turns it into the cartridge ABI, so this file contains only the rules and the byte layouts.
// Nothing here may allocate after newState()/newAction(): the runtime never frees memory.

import {
  ByteView,
  ILLEGAL_ACTION,
  MALFORMED_ACTION,
  MALFORMED_STATE,
  OK,
  Outcome,
  Rng,
} from "${o.sdkImport}";

const MIN_STONES: i32 = 10;
const MAX_STONES: i32 = 21;
const ACTIONS: u32 = 3;

/** The game state. The adapter keeps one instance and decodes every call's bytes into it. */
export class State {
  stones: i32 = 0;
  /** Who moves next: 0 or 1. */
  player: i32 = 0;
  /** 0 while the game is on, 1 if player 0 won, 2 if player 1 won. */
  winner: i32 = 0;
}

/** An action: take \`take\` stones (1-3). On the wire it is the u32 \`take - 1\`. */
export class Action {
  take: i32 = 1;
}

export class ${o.className} {
  newState(): State {
    return new State();
  }

  newAction(): Action {
    return new Action();
  }

  /** The seed decides the pile size; same seed, same game. */
  reset(state: State, rng: Rng, _hint: ByteView): i32 {
    state.stones = rng.nextRange(MIN_STONES, MAX_STONES + 1);
    state.player = 0;
    state.winner = 0;
    return OK;
  }

  /** Check before changing anything: a refused action must leave the state as it was. */
  step(state: State, action: Action, outcome: Outcome): i32 {
    if (action.take > state.stones) return ILLEGAL_ACTION;
    const mover = state.player;
    state.stones -= action.take;
    state.player = 1 - mover;
    if (state.stones == 0) {
      state.winner = mover + 1;
      outcome.win2(mover, mover);
    }
    return OK;
  }

  /** One byte per action: taking 1, 2 or 3 stones is legal while that many are left. */
  legalActions(state: State, mask: usize): void {
    for (let i: i32 = 0; i < <i32>ACTIONS; i++) {
      store<u8>(mask + <usize>i, <u8>(i + 1 <= state.stones));
    }
  }

  /** State bytes: [stones, player, winner]. Reject anything play cannot produce. */
  decodeState(ptr: usize, state: State): i32 {
    const stones = <i32>load<u8>(ptr);
    const player = <i32>load<u8>(ptr, 1);
    const winner = <i32>load<u8>(ptr, 2);
    if (stones > MAX_STONES || player > 1) return MALFORMED_STATE;
    // The game is over exactly when the pile is empty, and the winner moved last.
    if (winner == 0 && stones == 0) return MALFORMED_STATE;
    if (winner != 0 && (stones != 0 || winner != 2 - player)) return MALFORMED_STATE;
    state.stones = stones;
    state.player = player;
    state.winner = winner;
    return OK;
  }

  encodeState(state: State, ptr: usize): void {
    store<u8>(ptr, <u8>state.stones);
    store<u8>(ptr, <u8>state.player, 1);
    store<u8>(ptr, <u8>state.winner, 2);
  }

  /** Observation: [stones left, player to move] as f32. */
  encodeObs(state: State, ptr: usize): void {
    store<f32>(ptr, <f32>state.stones);
    store<f32>(ptr, <f32>state.player, 4);
  }

  decodeAction(ptr: usize, action: Action): i32 {
    const index = load<u32>(ptr);
    if (index >= ACTIONS) return MALFORMED_ACTION;
    action.take = <i32>index + 1;
    return OK;
  }

  isOver(state: State): bool {
    return state.winner != 0;
  }

  currentPlayer(state: State): i32 {
    return state.player;
  }
}
`;
}

function readme(o: ScaffoldOptions): string {
  return `# ${o.name}-v1

A cartridge made with \`cartridge new\`: Nim for two players. The pile starts with 10 to 21 stones
(from the reset seed); players alternately take 1, 2 or 3; whoever takes the last stone wins
(+1, the other gets -1).

- State \`nim_u8:v1\` (3 bytes): stones left, player to move (0/1), winner (0 none, 1 or 2).
- Action \`discrete:v1\`: u32 \`0..2\`, meaning take 1..3 stones.
- Observation \`f32x2:v1\`: stones left, player to move.

Build and validate it:

\`\`\`sh
cartridge build .            # writes build/${o.name}-v1.wasm and prints the validation report
cartridge validate build/${o.name}-v1.wasm
\`\`\`

Then replace the rules in \`assembly/game.ts\` with your own game, keeping the manifest in
\`cartridge.toml\` in step with the byte layouts. See docs/writing-a-cartridge.md.
`;
}

/** The scaffold as relative path → file text. */
export function scaffoldFiles(options: ScaffoldOptions): Record<string, string> {
  return {
    "cartridge.toml": toml(options),
    "assembly/game.ts": game(options),
    "README.md": readme(options),
    ".gitignore": "build/\n",
  };
}
