import { createHash, type Hash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildCartridge } from "../../../host/cli/build.js";
import {
  type ArrayLayout,
  batchLayout,
  rolloutLayout,
  singleLayout,
} from "../../../host/runtime/exchange-layout.js";
import { FuelExport } from "../../../host/runtime/fuel.js";
import { type LoadedCartridge, loadCartridge } from "../../../host/runtime/loader.js";
import {
  type CartridgeExports,
  instantiateSandboxed,
} from "../../../host/runtime/sandbox-instantiate.js";

/**
 * Same seed, same bytes, across SDK and game changes: every observable output of the bundled
 * cartridges (reset, step, batch step, legal masks, rollouts with and without observations, the
 * statuses of illegal actions, malformed actions and corrupted states) hashed and pinned. The
 * hashes were taken before the SDK's entry points were inlined over compile-time settings; a
 * change that alters any output byte of any game fails here. Build ids and fuel use may change;
 * neither is hashed.
 */
const GOLDEN: Record<string, { folder: string; sha256: string }> = {
  "tictactoe-v1": {
    folder: "tictactoe",
    sha256: "258800a9c115a969d51e6157663151c9956859cf9692d4a6f048fff9d44e1bcc",
  },
  "connect4-v1": {
    folder: "connect4",
    sha256: "b0f7bb3aca0a338e0111fed886fae209f9809ded2b5813e3888f1d1c36a6346b",
  },
  "pendulum-v1": {
    folder: "pendulum",
    sha256: "3f58e6ef9db07ecb592ac6815422f4250649a9622939e488b054526898bf5198",
  },
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Fuel for every call: far more than any of these calls needs. */
const FUEL = 1e9;
const INFO_TERMINATED = 4;
const INFO_TRUNCATED = 5;
const INFO_STATUS = 7;

async function loaded(envId: string, folder: string): Promise<LoadedCartridge> {
  const outFile = path.join(root, "build", "cartridges", `${envId}.wasm`);
  await buildCartridge(path.join(root, "cartridges", folder), outFile, {
    debug: false,
    force: false,
    log: () => {},
  });
  return loadCartridge(new Uint8Array(await readFile(outFile)), { source: outFile });
}

/** Hashes the outputs of one cartridge; see GOLDEN. */
class OutputHasher {
  private readonly hash: Hash = createHash("sha256");
  private readonly ex: CartridgeExports;
  private seedState = 12_345;

  constructor(private readonly cartridge: LoadedCartridge) {
    this.ex = instantiateSandboxed(cartridge.module, cartridge.limits).exports;
  }

  private get u8(): Uint8Array {
    return new Uint8Array(this.ex.memory.buffer);
  }

  /** xorshift32: the test's own reproducible choices. */
  private next(): number {
    let x = this.seedState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seedState = x;
    return x >>> 0;
  }

  private call(run: () => number): number {
    this.ex[FuelExport.setFuel](FUEL);
    const result = run();
    this.hash.update(`${result};`);
    return result;
  }

  private put(at: number, length: number): void {
    this.hash.update(this.u8.subarray(at, at + length));
  }

  /** A random action, legal or not: discrete values up to two past the mask, box values past it. */
  private randomAction(at: number): void {
    const { actionBytes, legalMaskBytes } = this.cartridge.sizes;
    const view = new DataView(this.ex.memory.buffer);
    if (legalMaskBytes === 0) {
      for (let i = 0; i < actionBytes; i += 4) {
        view.setFloat32(at + i, ((this.next() % 2001) - 1000) / 400, true);
      }
    } else {
      view.setUint32(at, this.next() % (legalMaskBytes + 2), true);
      this.u8.fill(0, at + 4, at + actionBytes);
    }
  }

  private flipBit(at: number, length: number): void {
    const u8 = this.u8;
    const i = at + (this.next() % length);
    u8[i] = (u8[i] as number) ^ (1 << (this.next() % 8));
  }

  single(): void {
    const s = this.cartridge.sizes;
    const l = singleLayout(this.cartridge.exchange.ptr, s);
    const ex = this.ex;
    for (let episode = 0; episode < 200; episode++) {
      this.call(() =>
        ex.cartridge_reset(BigInt(episode * 7919), l.hint, 0, l.state, l.obs, l.info),
      );
      this.put(l.state, s.stateBytes);
      this.put(l.obs, s.obsBytes);
      this.put(l.info, s.infoBytes);
      for (let t = 0; t < 300; t++) {
        const legal = ex.cartridge_legal_actions;
        if (legal !== undefined) {
          this.call(() => legal(l.state, l.mask));
          this.put(l.mask, s.legalMaskBytes);
        }
        this.randomAction(l.action);
        if (t % 37 === 5) this.flipBit(l.state, s.stateBytes);
        const status = this.call(() =>
          ex.cartridge_step(l.state, l.action, l.stateOut, l.obs, l.info),
        );
        if (status === 0) {
          this.put(l.stateOut, s.stateBytes);
          this.put(l.obs, s.obsBytes);
          this.put(l.info, s.infoBytes);
          this.u8.copyWithin(l.state, l.stateOut, l.stateOut + s.stateBytes);
        } else if (status === 4) {
          break;
        }
      }
    }
    this.call(() => ex.cartridge_step(0, 0, 0, 0, 0));
  }

  batch(): void {
    const s = this.cartridge.sizes;
    const base = this.cartridge.exchange.ptr;
    const hint = singleLayout(base, s).hint;
    const b = batchLayout(base, s, Math.min(64, this.cartridge.maxBatch));
    const n = b.capacity;
    const ex = this.ex;
    const reset = (i: number, seed: number) =>
      this.call(() =>
        ex.cartridge_reset(
          BigInt(seed),
          hint,
          0,
          b.states + i * s.stateBytes,
          b.obs + i * s.obsBytes,
          b.infos + i * s.infoBytes,
        ),
      );
    for (let i = 0; i < n; i++) reset(i, i + 99);
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < n; i++) this.randomAction(b.actions + i * s.actionBytes);
      if (round % 13 === 3) this.flipBit(b.states, s.stateBytes * n);
      this.call(() => ex.cartridge_step_batch(n, b.states, b.actions, b.statesOut, b.obs, b.infos));
      this.put(b.statesOut, s.stateBytes * n);
      this.put(b.obs, s.obsBytes * n);
      this.put(b.infos, s.infoBytes * n);
      this.u8.copyWithin(b.states, b.statesOut, b.statesOut + s.stateBytes * n);
      for (let i = 0; i < n; i++) {
        const info = b.infos + i * s.infoBytes;
        const u8 = this.u8;
        if (u8[info + INFO_STATUS] || u8[info + INFO_TERMINATED] || u8[info + INFO_TRUNCATED]) {
          reset(i, round * 1000 + i);
        }
      }
    }
    this.call(() => ex.cartridge_step_batch(0, b.states, b.actions, b.statesOut, b.obs, b.infos));
  }

  rollouts(): void {
    const s = this.cartridge.sizes;
    const r: ArrayLayout = rolloutLayout(
      this.cartridge.exchange.ptr,
      s,
      Math.min(300, this.cartridge.maxRolloutSteps),
    );
    const ex = this.ex;
    for (let episode = 0; episode < 300; episode++) {
      for (const flags of [0, 1]) {
        const cap = [r.capacity, 3, 1, 0][episode % 4] as number;
        const seed = BigInt(episode * 31 + 1);
        const rows = this.call(() =>
          ex.cartridge_rollout(seed, cap, flags, r.actions, r.states, r.obs, r.infos),
        );
        if (rows > 0) {
          this.put(r.actions, rows * s.actionBytes);
          this.put(r.states, rows * s.stateBytes);
          this.put(r.infos, rows * s.infoBytes);
          if (flags === 1) this.put(r.obs, rows * s.obsBytes);
        }
      }
    }
    this.call(() => ex.cartridge_rollout(1n, 5, 2, r.actions, r.states, r.obs, r.infos));
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

describe("bundled cartridges: every output byte as pinned", () => {
  it.each(Object.entries(GOLDEN))("%s", async (envId, { folder, sha256 }) => {
    const hasher = new OutputHasher(await loaded(envId, folder));
    hasher.single();
    hasher.batch();
    hasher.rollouts();
    expect(hasher.digest()).toBe(sha256);
  });
});
