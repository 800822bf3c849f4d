// The WAL's public surface. The fault-injecting file systems (`crash-fs.ts`, `fault-fs.ts`) are
// for tests and the simulator and are imported from their files directly.
export { WalCorruptionError, type WalCorruptionReason } from "./errors.js";
export { LOCK_NAME, NodeWalFs, type WalFile, type WalFs, type WalLock } from "./fs.js";
export { WAL_DEFAULTS, type WalObserver, type WalOptions } from "./options.js";
export type { WalRecovery } from "./recovery.js";
export { WalStorage } from "./wal-storage.js";
