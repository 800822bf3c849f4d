import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { runStorageContract } from "./storage.contract.js";

// A memory storage survives a "crash" as the same object: the process is simulated, the state
// is not lost.
runStorageContract("MemoryStorage", {
  open: async () => new MemoryStorage(),
  reopen: async (storage) => storage,
});
