export * from "./console-state-machine.js";
export * from "./envelope.js";
export * from "./errors.js";
export * from "./kv/kv-commands.js";
export * from "./kv/kv-store.js";
export * from "./limits.js";
export * from "./part.js";
