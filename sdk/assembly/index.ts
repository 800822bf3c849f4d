// The Cartridge SDK for AssemblyScript. A game imports what it needs from here; the generated
// entry file imports the adapter. See docs/writing-a-cartridge.md.

export { GameAdapter } from "./adapter";
export {
  ByteView,
  readF32,
  readU8,
  readU32,
  writeF32,
  writeU8,
  writeU32,
  zeroBytes,
} from "./bytes";
export { ActionKind } from "./config";
export { Outcome } from "./outcome";
export { pickBit, pickLegal, pickLegalBits, writeUniformBox } from "./policy";
export { RNG_STATE_BYTES, Rng } from "./rng";
export {
  ABI_VERSION,
  BAD_ARGUMENT,
  EPISODE_OVER,
  ILLEGAL_ACTION,
  INTERNAL,
  MALFORMED_ACTION,
  MALFORMED_HINT,
  MALFORMED_STATE,
  OK,
} from "./status";
