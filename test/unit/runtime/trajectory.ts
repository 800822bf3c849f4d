import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createEngine } from "../../../host/runtime/index.js";
import { RandomPolicy } from "../../../host/runtime/random-policy.js";
import { compileWatFixture } from "../../fixtures/wat-compiler.js";

/**
 * A reproducible trajectory of a cartridge, hashed: host-driven play with a seeded random legal
 * policy plus a few in-cartridge rollouts. Run as a script (`node --import tsx trajectory.ts
 * <file.wasm|counter> <seed>`) it prints the hash, so that tests can compare separate processes.
 */

/** The cartridge bytes for `name`: "counter" (the WAT fixture) or a path to a .wasm file. */
export async function cartridgeBytes(name: string): Promise<Uint8Array> {
  return name === "counter"
    ? compileWatFixture("counter.wat")
    : new Uint8Array(await readFile(name));
}

/** Every byte of a seeded trajectory, concatenated. */
export async function trajectoryBytes(
  bytes: Uint8Array,
  seed: bigint,
  steps = 200,
): Promise<Uint8Array> {
  const { registry, engine } = createEngine();
  const { envId, manifest } = await registry.register(bytes, "trajectory");
  const env = { envId };
  const policy = new RandomPolicy(manifest, Number(seed % 1_000_000n));
  const parts: Uint8Array[] = [];
  let episode = 0n;
  let t = engine.reset(env, seed);
  for (let i = 0; i < steps; i++) {
    if (t.terminated || t.truncated) {
      episode++;
      t = engine.reset(env, seed + episode);
    }
    parts.push(t.state, t.obs, new Uint8Array(t.playerRewards.buffer));
    const action = policy.choose(t.legalMask);
    if (action === undefined) throw new Error(`no legal action at step ${i}`);
    parts.push(action);
    t = engine.step(env, t.state, action);
  }
  for (const chunk of engine.rollout({ envId, seed, episodes: 3, stepCap: 64, includeObs: true })) {
    parts.push(
      chunk.actions,
      chunk.states,
      chunk.obs,
      chunk.flags,
      new Uint8Array(chunk.rewards.buffer, chunk.rewards.byteOffset, chunk.rewards.byteLength),
    );
  }
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name = "counter", seed = "1"] = process.argv.slice(2);
  const bytes = await trajectoryBytes(await cartridgeBytes(name), BigInt(seed));
  process.stdout.write(`${sha256(bytes)}\n`);
}
