import type { FaultHook } from "./crash-fs.js";
import { fsError } from "./crash-fs.js";
import type { WalFile, WalFs, WalLock } from "./fs.js";

/**
 * Wraps a real {@link WalFs} and fails the operations `fault` picks, before they run (so the
 * underlying file system is never left in a state it could not reach on its own). Used to test
 * a full disk or a failed fsync on the real file system.
 */
export class FaultyFs implements WalFs {
  fault: FaultHook | undefined;

  constructor(private readonly inner: WalFs) {}

  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }

  size(path: string): Promise<number> {
    return this.inner.size(path);
  }

  async openWrite(path: string): Promise<WalFile> {
    return this.wrap(path, await this.inner.openWrite(path));
  }

  async create(path: string): Promise<WalFile> {
    this.check("create", path);
    return this.wrap(path, await this.inner.create(path));
  }

  async rename(from: string, to: string): Promise<void> {
    this.check("rename", from);
    await this.inner.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.check("unlink", path);
    await this.inner.unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    this.check("syncDir", dir);
    await this.inner.syncDir(dir);
  }

  lock(dir: string): Promise<WalLock> {
    return this.inner.lock(dir);
  }

  private check(op: Parameters<FaultHook>[0], path: string): void {
    const code = this.fault?.(op, path);
    if (code !== undefined) {
      throw fsError(code, op, path);
    }
  }

  private wrap(path: string, file: WalFile): WalFile {
    return {
      write: async (bytes, position) => {
        this.check("write", path);
        await file.write(bytes, position);
      },
      truncate: async (sizeBytes) => {
        this.check("truncate", path);
        await file.truncate(sizeBytes);
      },
      datasync: async () => {
        this.check("datasync", path);
        await file.datasync();
      },
      close: () => file.close(),
    };
  }
}
