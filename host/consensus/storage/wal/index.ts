export type { FaultHook, FsOp, TornWritePolicy } from "./crash-fs.js";
export { CrashFs, fsError } from "./crash-fs.js";
export { crc32c } from "./crc32c.js";
export { WalCorruptionError, type WalCorruptionReason } from "./errors.js";
export { FaultyFs } from "./fault-fs.js";
export { NodeWalFs, type WalFile, type WalFs } from "./fs.js";
export { WAL_DEFAULTS, type WalObserver, type WalOptions } from "./options.js";
export type { WalRecovery } from "./recovery.js";
export { WalStorage } from "./wal-storage.js";
