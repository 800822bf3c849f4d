import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { storageContract } from "./storage.contract.js";

storageContract(
  "MemoryStorage",
  () => new MemoryStorage(),
  (storage) => storage,
);
