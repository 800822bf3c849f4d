import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { ConsensusError } from "../../core/errors.js";

/** The lock file in a WAL directory: the decimal pid of the process that holds it. */
export const LOCK_NAME = "LOCK";

/**
 * The thin file-system seam the WAL runs on. Every method is asynchronous and may reject with a
 * Node system error (`code` such as `ENOSPC`, `EIO`, `ENOENT`). Tests swap in {@link CrashFs}
 * (crash-consistent in-memory model) or wrap the real one to inject faults; the WAL never
 * assumes anything the real file system does not promise:
 *
 * - `write` and `truncate` are durable only after `datasync` of that file returns;
 * - a created, renamed or unlinked name is durable only after `syncDir` of its directory returns;
 * - `rename` replaces the target atomically.
 */
export interface WalFs {
  mkdir(dir: string): Promise<void>;
  /** File names (not paths) in `dir`. */
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Size of the file in bytes. */
  size(path: string): Promise<number>;
  /** Opens an existing file for reading and writing at explicit positions. */
  openWrite(path: string): Promise<WalFile>;
  /** Creates (or empties) a file and opens it for writing. */
  create(path: string): Promise<WalFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes the names in `dir` (creations, renames, unlinks) durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * Claims `dir` for this process, so two nodes configured with the same directory cannot both
   * write it. Rejects with `StorageFailure` if another live process holds it.
   */
  lock(dir: string): Promise<WalLock>;
}

/** A claim on a WAL directory. */
export interface WalLock {
  release(): Promise<void>;
}

/** An open file. One caller at a time. */
export interface WalFile {
  /** Writes all of `bytes` at `position`. */
  write(bytes: Uint8Array, position: number): Promise<void>;
  truncate(sizeBytes: number): Promise<void>;
  /** fdatasync: the file's data (and the size, if it changed) reach the disk. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real file system through `node:fs/promises`. Every call runs on libuv's thread pool, so a
 * multi-millisecond fdatasync does not block the event loop: ticks, the transport and client
 * requests keep flowing while the disk syncs, and group commit batches whatever arrives in the
 * meantime. The cost (a thread-pool hop, tens of microseconds) is small next to the fsync itself.
 * Synchronous calls would stall the whole process for every fsync.
 */
export class NodeWalFs implements WalFs {
  async mkdir(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
  }

  readdir(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const buffer = await fsp.readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  async size(path: string): Promise<number> {
    return (await fsp.stat(path)).size;
  }

  async openWrite(path: string): Promise<WalFile> {
    return new NodeWalFile(await fsp.open(path, "r+"));
  }

  async create(path: string): Promise<WalFile> {
    return new NodeWalFile(await fsp.open(path, "w"));
  }

  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /**
   * A lock file holding our pid. Node has no flock(), so a lock left by a killed process is
   * recognised as stale when no process with that pid exists (`/proc/<pid>` on Linux); where
   * there is no `/proc`, a left-over lock is always taken over (no protection, no false refusal).
   * The same process may claim a directory again (a restarted engine inside one process).
   */
  async lock(dir: string): Promise<WalLock> {
    const path = join(dir, LOCK_NAME);
    const mine = String(process.pid);
    try {
      await fsp.writeFile(path, mine, { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
      const holder = (await fsp.readFile(path, "utf8")).trim().slice(0, 20);
      if (holder !== mine && /^[0-9]+$/.test(holder) && existsSync(`/proc/${holder}`)) {
        throw new ConsensusError(
          "StorageFailure",
          `WAL directory ${dir} is in use by process ${holder} (remove ${path} if that is wrong)`,
        );
      }
      await fsp.writeFile(path, mine);
    }
    return {
      release: async () => {
        const holder = await fsp.readFile(path, "utf8").catch(() => "");
        if (holder.trim() === mine) {
          await fsp.unlink(path);
        }
      },
    };
  }
}

class NodeWalFile implements WalFile {
  constructor(private readonly handle: fsp.FileHandle) {}

  async write(bytes: Uint8Array, position: number): Promise<void> {
    let written = 0;
    // A regular-file write rarely returns short, but the call allows it; loop until done.
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(
        bytes,
        written,
        bytes.length - written,
        position + written,
      );
      if (bytesWritten === 0) {
        throw new Error(`write made no progress at byte ${position + written}`);
      }
      written += bytesWritten;
    }
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.handle.truncate(sizeBytes);
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
