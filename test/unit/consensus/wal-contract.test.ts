import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConsensusStorage } from "../../../host/consensus/storage/storage.js";
import { CrashFs } from "../../../host/consensus/storage/wal/crash-fs.js";
import { WalStorage } from "../../../host/consensus/storage/wal/wal-storage.js";
import { runStorageContract } from "./storage.contract.js";

// On the real file system: a restart is a new instance on the same directory. The abandoned
// instance is not closed by the contract (a killed process does not close either); cleanup
// closes them all so no file handle outlives the test.
const open: WalStorage[] = [];
const dirs: string[] = [];
runStorageContract("WalStorage (node:fs)", {
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), "cartridge-wal-contract-"));
    dirs.push(dir);
    return track(new WalStorage({ dir }), dir);
  },
  reopen: async (storage) => {
    const dir = dirsByStorage.get(storage) as string;
    return track(new WalStorage({ dir }), dir);
  },
  cleanup: async () => {
    await Promise.all(open.splice(0).map((storage) => storage.close().catch(() => undefined)));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  },
});

// On the crash-modelling file system: a restart sees only what was synced (names included), and
// small segments make every test cross segment boundaries.
const disks = new Map<ConsensusStorage, CrashFs>();
runStorageContract("WalStorage (crash model, 1 KiB segments)", {
  open: async () => crashStorage(new CrashFs()),
  reopen: async (storage) => crashStorage((disks.get(storage) as CrashFs).crash()),
  cleanup: async () => disks.clear(),
});

const dirsByStorage = new WeakMap<ConsensusStorage, string>();

function track(storage: WalStorage, dir: string): WalStorage {
  open.push(storage);
  dirsByStorage.set(storage, dir);
  return storage;
}

function crashStorage(fs: CrashFs): WalStorage {
  const storage = new WalStorage({
    dir: "/data/wal",
    fs,
    segmentBytes: 1024,
    maxRecordBytes: 1024 * 1024,
  });
  disks.set(storage, fs);
  return storage;
}
