import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { buildCartridge } from "../../../host/cli/build.js";
import { Status } from "../../../host/runtime/abi.js";
import { FuelExport } from "../../../host/runtime/fuel.js";
import { type LoadedCartridge, loadCartridge } from "../../../host/runtime/loader.js";
import {
  type CartridgeExports,
  instantiateSandboxed,
} from "../../../host/runtime/sandbox-instantiate.js";

/**
 * The SDK adapter's side of the ABI, exercised on the raw exports of the bundled tic-tac-toe
 * (loaded and metered by the host's loader): argument checks the engine never triggers, batch
 * error isolation, in-place steps, rollout flags, and the no-allocation rule.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const FUEL = 1e9;

let cartridge: LoadedCartridge;
let x: CartridgeExports;
let ex: number;
let exLen: number;

beforeAll(async () => {
  const outFile = path.join(root, "build", "cartridges", "tictactoe-v1.wasm");
  await buildCartridge(path.join(root, "cartridges", "tictactoe"), outFile, {
    debug: false,
    force: false,
    log: () => {},
  });
  cartridge = await loadCartridge(await readFile(outFile), { source: outFile });
  x = instantiateSandboxed(cartridge.module).exports;
  ex = cartridge.exchange.ptr;
  exLen = cartridge.exchange.len;
});

/** Calls an export with a fresh fuel budget. */
function call<T>(fn: () => T): T {
  x[FuelExport.setFuel](FUEL);
  return fn();
}

function bytes(address: number, length: number): Uint8Array {
  return new Uint8Array(x.memory.buffer, address, length);
}

/** Writes a tic-tac-toe state (11 bytes) at `address`. */
function writeState(address: number, cells: number[], player: number, winner: number): void {
  bytes(address, 11).set([...cells, player, winner]);
}

function writeU32(address: number, value: number): void {
  new DataView(x.memory.buffer).setUint32(address, value, true);
}

describe("GameAdapter (through tictactoe-v1's exports)", () => {
  it("refuses pointers outside the exchange region and bad counts with BAD_ARGUMENT", () => {
    const end = ex + exLen;
    expect(call(() => x.cartridge_step(end - 4, ex, ex + 64, ex + 128, ex + 256))).toBe(
      Status.BadArgument,
    );
    expect(call(() => x.cartridge_step(0, ex, ex + 64, ex + 128, ex + 256))).toBe(
      Status.BadArgument,
    );
    expect(call(() => x.cartridge_step_batch(0, ex, ex, ex, ex, ex))).toBe(Status.BadArgument);
    expect(call(() => x.cartridge_step_batch(-1, ex, ex, ex, ex, ex))).toBe(Status.BadArgument);
    expect(call(() => x.cartridge_step_batch(exLen, ex, ex, ex, ex, ex))).toBe(Status.BadArgument);
    expect(call(() => x.cartridge_legal_actions!(ex, end - 4))).toBe(Status.BadArgument);
    expect(call(() => x.cartridge_reset(1n, ex, 0, end, ex, ex + 16))).toBe(Status.BadArgument);
  });

  it("refuses a hint longer than hint_max_bytes with MALFORMED_HINT", () => {
    expect(call(() => x.cartridge_reset(1n, ex, 1, ex + 16, ex + 32, ex + 160))).toBe(
      Status.MalformedHint,
    );
  });

  it("checks rollout flags and step caps", () => {
    const args = [ex, ex + 64, ex + 1024, ex + 8192] as const;
    expect(call(() => x.cartridge_rollout(1n, 9, 2, ...args))).toBe(-Status.BadArgument);
    expect(call(() => x.cartridge_rollout(1n, -1, 0, ...args))).toBe(-Status.BadArgument);
    expect(call(() => x.cartridge_rollout(1n, exLen, 1, ...args))).toBe(-Status.BadArgument);
    expect(call(() => x.cartridge_rollout(1n, 0, 1, ...args))).toBe(0);
  });

  it("does not touch the observation array when the rollout is asked for no observations", () => {
    const obs = bytes(ex + 1024, 9 * 108);
    obs.fill(0xab);
    const steps = call(() => x.cartridge_rollout(3n, 9, 0, ex, ex + 64, ex + 1024, ex + 8192));
    expect(steps).toBeGreaterThanOrEqual(5);
    expect(obs.every((b) => b === 0xab)).toBe(true);
  });

  it("isolates a failed env in a batch and allows states_out == states_in", () => {
    const states = ex;
    const actions = ex + 64;
    const obs = ex + 128;
    const infos = ex + 512;
    writeState(states, [0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0);
    writeState(states + 11, [1, 0, 0, 0, 0, 0, 0, 0, 0], 1, 0);
    writeState(states + 22, [1, 0, 0, 0, 0, 0, 0, 0, 0], 1, 0);
    writeU32(actions, 4);
    writeU32(actions + 4, 0); // occupied
    writeU32(actions + 8, 8);
    const before = bytes(states, 33).slice();
    expect(call(() => x.cartridge_step_batch(3, states, actions, states, obs, infos))).toBe(
      Status.Ok,
    );
    const after = bytes(states, 33);
    const infoStatus = (i: number) => bytes(infos + 16 * i + 7, 1)[0];
    expect(Array.from(after.subarray(0, 11))).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
    expect(infoStatus(0)).toBe(Status.Ok);
    expect(after.subarray(11, 22)).toEqual(before.subarray(11, 22));
    expect(infoStatus(1)).toBe(Status.IllegalAction);
    expect(bytes(obs + 108, 108).every((b) => b === 0)).toBe(true);
    expect(Array.from(after.subarray(22, 33))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]);
    expect(infoStatus(2)).toBe(Status.Ok);
  });

  it("writes an all-zero legal mask for a finished game", () => {
    writeState(ex, [1, 1, 1, 2, 2, 0, 0, 0, 0], 1, 1);
    bytes(ex + 64, 9).fill(7);
    expect(call(() => x.cartridge_legal_actions!(ex, ex + 64))).toBe(Status.Ok);
    expect(bytes(ex + 64, 9).every((b) => b === 0)).toBe(true);
  });

  it("does not allocate: memory stays the same size over 30,000 steps and 5,000 rollouts", () => {
    const pages = x.memory.buffer.byteLength;
    const state = ex;
    const action = ex + 16;
    const mask = ex + 32;
    const obs = ex + 64;
    const info = ex + 192;
    call(() => x.cartridge_reset(1n, 0, 0, state, obs, info));
    for (let i = 0; i < 30_000; i++) {
      call(() => x.cartridge_legal_actions!(state, mask));
      writeU32(action, bytes(mask, 9).indexOf(1));
      call(() => x.cartridge_step(state, action, state, obs, info));
      if (bytes(info + 4, 1)[0] === 1)
        call(() => x.cartridge_reset(BigInt(i), 0, 0, state, obs, info));
    }
    for (let i = 0; i < 5_000; i++) {
      call(() => x.cartridge_rollout(BigInt(i), 9, 1, ex, ex + 64, ex + 1024, ex + 8192));
    }
    expect(x.memory.buffer.byteLength).toBe(pages);
  });
});
