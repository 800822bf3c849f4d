import { execFile } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient, type SessionTransition } from "../../host/client/index.js";
import { TestCluster, type TestNode, until } from "./cluster-harness.js";
import { bundledCartridge, bytesOf, legalAction, NodeClients } from "./console-harness.js";

const CLI = fileURLToPath(new URL("../../dist/host/cli/main.js", import.meta.url));
const run = promisify(execFile);

const SESSIONS = 16;
/** Each player waits at this step until the leader was killed, so that every game spans it. */
const GATE_STEP = 3;
// Tic-tac-toe episodes are short (5 to 9 steps) and none ends before the gate.
const GAME = "tictactoe-v1";
const DEPLOYED = "connect4-v1";

/** What one player saw acknowledged: its session and every transition, in step order. */
interface Played {
  readonly sessionId: string;
  readonly buildId: string;
  readonly seed: bigint;
  readonly transitions: SessionTransition[];
  /** Steps acknowledged after the leader was killed. */
  stepsAfterKill: number;
}

/**
 * The replicated console on three `cartridge serve --config` processes (TCP, WAL), each with the
 * same cartridges folder: 16 sessions played by concurrent clients (the TypeScript client, which
 * follows the leader) through a leader SIGKILL, a build deployed with `cartridge deploy` in the
 * middle, the killed node restarted from its WAL.
 */
describe("the replicated console on 3 processes", { timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  let folder: string;
  let nodes: NodeClients[] = [];
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "cartridge-e2e-folder-"));
    await cp(bundledCartridge(GAME), join(folder, `${GAME}.wasm`));
    cluster = await TestCluster.create({
      serveArgs: ["--cartridges", folder],
      // Checkpoints every few slots: the divergence detector runs through the whole test, and a
      // false alarm would halt a replica (its reads at the end would never answer).
      consensus: ["checkpoint_interval_slots = 20"],
    });
    nodes = cluster.nodes.map((node) => new NodeClients(node.grpcAddress));
    await cluster.startAll();
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const node of nodes) node.close();
    await cluster?.destroy();
    await rm(folder, { recursive: true, force: true });
  });

  it("plays 16 sessions through a leader SIGKILL; every acknowledged step is kept and replays bit for bit", async () => {
    const c = cluster as TestCluster;
    const oldLeader = await c.leader();
    // Every node proposed the same folder file: the manifest holds one build, served everywhere.
    const gameBuild = await until(async () => {
      const views = await Promise.all(nodes.map((node) => node.listBuilds(0n)));
      const builds = views.map((v) => v.builds.find((b) => b.envId === GAME && b.current));
      const first = builds[0]?.buildId;
      return first !== undefined && builds.every((b) => b?.buildId === first) ? first : undefined;
    });
    const addresses = nodes.map((node) => node.address);

    let killed = false;
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let waiting = 0;
    const play = async (i: number): Promise<Played> => {
      const client = await EngineClient.connect(addresses[i % 3] as string, {
        endpoints: addresses,
      });
      clients.push(client);
      const seed = BigInt(1000 + i);
      const session = await client.session(GAME, { seed });
      const first = session.first.last;
      if (first === undefined) throw new Error("create returned no transition");
      const played: Played = {
        sessionId: session.id,
        buildId: session.buildId,
        seed,
        transitions: [first],
        stepsAfterKill: 0,
      };
      let last = first;
      while (!last.terminated && !last.truncated) {
        if (last.step === GATE_STEP) {
          waiting += 1;
          await gate;
        }
        const transition = await session.step(legalAction(last.legalMask, i + last.step));
        expect(transition.step).toBe(last.step + 1);
        played.transitions.push(transition);
        if (killed) played.stepsAfterKill += 1;
        last = transition;
      }
      return played;
    };
    const games = Array.from({ length: SESSIONS }, (_, i) => play(i));
    try {
      // Most players wait at the gate; the others have steps in flight when the leader dies.
      await until(async () => (waiting >= SESSIONS - 4 ? true : undefined), 10);
      oldLeader.signal("SIGKILL");
      await oldLeader.exited;
      killed = true;
      openGate();
      const survivors = c.nodes.filter((n) => n !== oldLeader);
      const newLeader: TestNode = await c.leader(survivors);
      expect(newLeader.id).not.toBe(oldLeader.id);
      // A cartridge deployed mid-run through the CLI, the dead node first in its list.
      const endpoints = [oldLeader, ...survivors].map((n) => n.grpcAddress).join(",");
      const { stdout } = await run(process.execPath, [
        CLI,
        "deploy",
        bundledCartridge(DEPLOYED),
        "--endpoints",
        endpoints,
      ]);
      const deployed = /^deployed (\S+) build ([0-9a-f]{64}) at index (\d+) \(current\)$/m.exec(
        stdout,
      );
      expect(deployed?.[1]).toBe(DEPLOYED);
      const played = await Promise.all(games);

      await oldLeader.start();
      const commit = Number((await newLeader.status()).commitIndex);
      await c.appliedAtLeast(commit);
      // The deployed build reached every node, the restarted one included.
      for (const node of nodes) {
        const { builds } = await node.listBuilds(BigInt(deployed?.[3] ?? 0));
        expect(builds.find((b) => b.envId === DEPLOYED)).toMatchObject({
          buildId: deployed?.[2],
          current: true,
        });
      }
      await expectReplays(played, nodes, gameBuild, BigInt(commit));
      // No replica halted on a checkpoint (they ran every 20 slots): all serve.
      for (const node of nodes) {
        await until(async () => ((await node.healthOf("")) === "SERVING" ? true : undefined));
        expect(await node.healthOf("sessions.v1.Sessions")).toBe("SERVING");
      }
    } finally {
      openGate();
      for (const client of clients) client.close();
      await Promise.allSettled(games);
    }
  });
});

/**
 * Every node holds every session with exactly the acknowledged actions, and a stateless replay of
 * its export (Reset with the seed, then Step each action, through the Engine RPCs) gives the
 * acknowledged transitions and the session's state byte for byte.
 */
async function expectReplays(
  played: readonly Played[],
  nodes: readonly NodeClients[],
  gameBuild: string,
  appliedIndex: bigint,
): Promise<void> {
  const engine = await EngineClient.connect(nodes[0]?.address ?? "");
  try {
    for (const session of played) {
      expect(session.stepsAfterKill).toBeGreaterThan(0);
      expect(session.buildId).toBe(gameBuild);
      const acked = session.transitions.slice(1).map((t) => Buffer.from(t.action).toString("hex"));
      const states = new Set<string>();
      for (const node of nodes) {
        const exported = await node.exportSession(session.sessionId, appliedIndex);
        expect(exported).toMatchObject({ envId: GAME, buildId: gameBuild, seed: session.seed });
        expect(exported.actions.map((a) => Buffer.from(a).toString("hex"))).toEqual(acked);
        const { session: held } = await node.getSession(session.sessionId, appliedIndex);
        states.add(Buffer.from(held?.state ?? []).toString("hex"));
      }
      expect(states.size).toBe(1);

      const reset = await engine.reset(GAME, session.seed, { buildId: gameBuild });
      const first = session.transitions[0] as SessionTransition;
      expect(bytesOf(reset.obs).equals(bytesOf(first.obs))).toBe(true);
      expect(bytesOf(reset.legalMask).equals(bytesOf(first.legalMask))).toBe(true);
      let state: Uint8Array = reset.state;
      for (const transition of session.transitions.slice(1)) {
        const step = await engine.step(GAME, state, transition.action, { buildId: gameBuild });
        expect(bytesOf(step.obs).equals(bytesOf(transition.obs))).toBe(true);
        expect(bytesOf(step.legalMask).equals(bytesOf(transition.legalMask))).toBe(true);
        expect({
          reward: step.reward,
          playerRewards: bytesOf(Float32Array.from(step.playerRewards)).toString("hex"),
          terminated: step.terminated,
          truncated: step.truncated,
          currentPlayer: step.currentPlayer,
        }).toEqual({
          reward: transition.reward,
          playerRewards: bytesOf(transition.playerRewards).toString("hex"),
          terminated: transition.terminated,
          truncated: transition.truncated,
          currentPlayer: transition.currentPlayer,
        });
        state = step.state;
      }
      expect([...states]).toEqual([bytesOf(state).toString("hex")]);
    }
  } finally {
    engine.close();
  }
}
