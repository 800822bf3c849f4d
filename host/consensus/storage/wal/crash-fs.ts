import { basename, dirname } from "node:path";
import type { WalFile, WalFs, WalLock } from "./fs.js";

/** The operations a fault hook can fail. */
export type FsOp = "write" | "datasync" | "truncate" | "create" | "rename" | "unlink" | "syncDir";

/**
 * Decides whether an operation fails: return an errno code (`"EIO"`, `"ENOSPC"`) to make it
 * reject, or undefined to let it run. Called before the operation takes effect.
 */
export type FaultHook = (op: FsOp, path: string) => string | undefined;

/** Decides, at a crash, how many of a file's unsynced appended bytes reached the disk anyway. */
export type TornWritePolicy = (path: string, unsyncedBytes: number) => number;

interface Inode {
  /** What reads see now. */
  data: Uint8Array;
  /** What survives a crash: the data as of the last `datasync`. */
  synced: Uint8Array;
}

/** Builds the error a real file system call rejects with. */
export function fsError(code: string, op: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code });
}

/**
 * An in-memory file system that models what survives a crash, for tests and the simulator
 * (the idea of TigerBeetle's `testing/storage.zig`, much reduced): file contents are durable only
 * up to the last `datasync`, and names (creations, renames, unlinks) only after `syncDir` of
 * their directory. {@link crash} returns the file system a restarted process would see,
 * optionally with a torn prefix of the unsynced appends. `capacityBytes` models a full disk: a
 * write that would exceed it writes what fits and rejects with `ENOSPC`, as a real disk does.
 */
export class CrashFs implements WalFs {
  /** Names as the running process sees them. */
  private names = new Map<string, Inode>();
  /** Names as they are on disk. */
  private durableNames = new Map<string, Inode>();
  /** Directories; the WAL never removes one, so they all survive a crash. */
  private dirs = new Set<string>();
  /** Every operation consults this first. */
  fault: FaultHook | undefined;
  capacityBytes = Number.POSITIVE_INFINITY;

  async mkdir(dir: string): Promise<void> {
    for (let d = dir; !this.dirs.has(d) && d !== dirname(d); d = dirname(d)) {
      this.dirs.add(d);
    }
  }

  async readdir(dir: string): Promise<string[]> {
    if (!this.dirs.has(dir)) {
      throw fsError("ENOENT", "scandir", dir);
    }
    return [...this.names.keys()].filter((path) => dirname(path) === dir).map((p) => basename(p));
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.inode(path).data.slice();
  }

  async size(path: string): Promise<number> {
    return this.inode(path).data.length;
  }

  async openWrite(path: string): Promise<WalFile> {
    return new CrashFile(this, path, this.inode(path));
  }

  async create(path: string): Promise<WalFile> {
    this.check("create", path);
    if (!this.dirs.has(dirname(path))) {
      throw fsError("ENOENT", "open", path);
    }
    const inode: Inode = { data: new Uint8Array(0), synced: new Uint8Array(0) };
    this.names.set(path, inode);
    return new CrashFile(this, path, inode);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check("rename", from);
    const inode = this.inode(from);
    this.names.delete(from);
    this.names.set(to, inode);
  }

  async unlink(path: string): Promise<void> {
    this.check("unlink", path);
    this.inode(path);
    this.names.delete(path);
  }

  async syncDir(dir: string): Promise<void> {
    this.check("syncDir", dir);
    for (const path of [...this.durableNames.keys()]) {
      if (dirname(path) === dir && !this.names.has(path)) {
        this.durableNames.delete(path);
      }
    }
    for (const [path, inode] of this.names) {
      if (dirname(path) === dir) {
        this.durableNames.set(path, inode);
      }
    }
  }

  /** One process per simulated disk: the lock always succeeds. */
  async lock(): Promise<WalLock> {
    return { release: async () => undefined };
  }

  /**
   * The file system after a power loss: durable names with their synced data, plus, per file,
   * the prefix of unsynced appended bytes `torn` chooses (none by default). The running process
   * must not use this object afterwards; the restarted one uses the returned one.
   */
  crash(torn: TornWritePolicy = () => 0): CrashFs {
    const next = new CrashFs();
    for (const [path, inode] of this.durableNames) {
      let data = inode.synced;
      const unsynced = inode.data.length - inode.synced.length;
      if (unsynced > 0 && startsWith(inode.data, inode.synced)) {
        const kept = Math.max(0, Math.min(unsynced, Math.floor(torn(path, unsynced))));
        data = inode.data.slice(0, inode.synced.length + kept);
      }
      const copy: Inode = { data: data.slice(), synced: data.slice() };
      next.names.set(path, copy);
      next.durableNames.set(path, copy);
    }
    next.dirs = new Set(this.dirs);
    return next;
  }

  /** Bytes held by every file the running process sees. */
  usedBytes(): number {
    let total = 0;
    for (const inode of new Set(this.names.values())) {
      total += inode.data.length;
    }
    return total;
  }

  /** Direct access for tests that damage a file on purpose (the bytes are live). */
  fileBytes(path: string): Uint8Array {
    return this.inode(path).data;
  }

  check(op: FsOp, path: string): void {
    const code = this.fault?.(op, path);
    if (code !== undefined) {
      throw fsError(code, op, path);
    }
  }

  private inode(path: string): Inode {
    const inode = this.names.get(path);
    if (inode === undefined) {
      throw fsError("ENOENT", "open", path);
    }
    return inode;
  }
}

class CrashFile implements WalFile {
  private closed = false;

  constructor(
    private readonly fs: CrashFs,
    private readonly path: string,
    private readonly inode: Inode,
  ) {}

  async write(bytes: Uint8Array, position: number): Promise<void> {
    this.open();
    this.fs.check("write", this.path);
    const end = position + bytes.length;
    const growth = Math.max(0, end - this.inode.data.length);
    const free = this.fs.capacityBytes - this.fs.usedBytes();
    const fits = growth <= free ? bytes.length : Math.max(0, bytes.length - (growth - free));
    const data = new Uint8Array(Math.max(this.inode.data.length, position + fits));
    data.set(this.inode.data);
    data.set(bytes.subarray(0, fits), position);
    this.inode.data = data;
    if (fits < bytes.length) {
      throw fsError("ENOSPC", "write", this.path);
    }
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.open();
    this.fs.check("truncate", this.path);
    const data = new Uint8Array(sizeBytes);
    data.set(this.inode.data.subarray(0, sizeBytes));
    this.inode.data = data;
  }

  async datasync(): Promise<void> {
    this.open();
    this.fs.check("datasync", this.path);
    this.inode.synced = this.inode.data.slice();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) {
      throw fsError("EBADF", "write", this.path);
    }
  }
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) {
    return false;
  }
  for (let i = 0; i < prefix.length; i++) {
    if (data[i] !== prefix[i]) {
      return false;
    }
  }
  return true;
}
