import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError, readCartridgeSource } from "../../../host/cli/cartridge-source.js";

/** A cartridge folder whose reset hint and legal mask are large next to its other records. */
function toml(exchangeBytes: number): string {
  return `
[build]
class = "Big"
exchange_bytes = ${exchangeBytes}

[manifest]
env_id = "bighint-v1"
version = "0.0.1"
players = 1
max_horizon = 1
preferred_batch = 1
state_bytes = 1
action_bytes = 4
obs_bytes = 4
hint_max_bytes = 4096

[manifest.encoding]
state = "s:v1"
action = "discrete:v1"
obs = "o:v1"
schema_version = 1

[manifest.action_space.discrete]
n = 4096

[manifest.observation]
dtype = "u8"
shape = [4]
`;
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cartridge-exchange-"));
  await mkdir(path.join(dir, "assembly"));
  await writeFile(path.join(dir, "assembly", "game.ts"), "export class Big {}\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the smallest exchange region cartridge.toml may ask for", () => {
  it("has room for one reset and step with the largest hint and mask, as the host requires", async () => {
    // hint (4096) + state, action, state, obs, info (1, 4, 1, 4, 12, each padded to 4) + mask
    // (4096): the host's single-call layout needs 8220 bytes, more than the batch or rollout.
    await writeFile(path.join(dir, "cartridge.toml"), toml(4096));
    const error = await readCartridgeSource(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).code).toBe("BadConfig");
    expect((error as BuildError).message).toMatch(
      /exchange_bytes must be a multiple of 16 between 8224 and/,
    );
    await writeFile(path.join(dir, "cartridge.toml"), toml(8224));
    expect((await readCartridgeSource(dir)).exchangeBytes).toBe(8224);
  });
});
