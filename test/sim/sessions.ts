import { ConsensusError } from "../../host/consensus/core/errors.js";
import type { ProposalResult } from "../../host/consensus/engine/engine.js";
import { decodeOutcome } from "../../host/replication/envelope.js";
import {
  decodeSessionResult,
  encodeSessionCommand,
  type SessionCommand,
} from "../../host/replication/sessions/session-commands.js";
import { CartridgeEngine } from "../../host/runtime/cartridge-engine.js";
import type { Engine } from "../../host/runtime/engine.js";
import { InlineEngine } from "../../host/runtime/inline-engine.js";
import { Registry } from "../../host/runtime/registry.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import type { SimCluster } from "./cluster.js";
import type { SimRandom } from "./random.js";

let runtime: Promise<Engine> | undefined;

/**
 * The runtime every simulated replica runs session commands on: the counter cartridge (one
 * player, truncated after 6 steps; action 2 is illegal on an odd value, a recorded guest
 * failure). One engine serves all replicas: it is stateless between calls, and the guest is
 * deterministic, which is what separate machines would rely on too.
 */
export function simRuntime(): Promise<Engine> {
  runtime ??= (async () => {
    const registry = new Registry();
    await registry.register(await counterVariant(), "counter.wasm");
    return new InlineEngine(new CartridgeEngine(registry));
  })();
  return runtime;
}

const ENV_ID = "counter-v1";

function u32(value: number): Uint8Array {
  return new Uint8Array(Uint32Array.of(value).buffer);
}

interface InFlight {
  readonly command: SessionCommand;
  readonly requestId: number;
  attemptDeadline: number;
  retryAt: number | undefined;
  attempt: number;
}

/**
 * A game player of the simulated workload: it creates a session, steps it with the step index it
 * knows until the episode ends, closes it and starts another; one request in flight, retried
 * with the same request id until answered (a retry is applied once, so that is always safe).
 * It remembers every action acknowledged to it, which the final check compares with what the
 * replicas hold.
 */
export class SimPlayer {
  readonly clientId: string;
  private nextRequestId = 1;
  private current: InFlight | undefined;
  private leaderHint: string | undefined;
  /** The open session and the actions acknowledged on it. */
  sessionId: string | undefined;
  readonly acked: Uint8Array[] = [];
  private over = false;
  /** Steps acknowledged over the whole run. */
  ackedSteps = 0;
  /** Set when the consensus client session expired: the player's knowledge is then unknown. */
  lost = false;
  readonly violations: string[] = [];

  constructor(
    index: number,
    private readonly cluster: SimCluster,
    private readonly random: SimRandom,
    private readonly issueRate: number,
    private readonly attemptTimeoutTicks: number,
  ) {
    this.clientId = `p${index}`;
  }

  idle(): boolean {
    return this.current === undefined || this.lost;
  }

  step(issue: boolean): void {
    if (this.lost) return;
    const current = this.current;
    const now = this.cluster.now;
    if (current === undefined) {
      if (issue && this.random.chance(this.issueRate)) this.begin(this.nextCommand());
      return;
    }
    if (current.retryAt !== undefined && current.retryAt <= now) {
      current.retryAt = undefined;
      this.attempt(current);
    } else if (current.retryAt === undefined && current.attemptDeadline <= now) {
      current.retryAt = now + this.random.between(1, 3);
    }
  }

  private nextCommand(): SessionCommand {
    const stampMs = this.cluster.now;
    if (this.sessionId === undefined) {
      const seed = BigInt(this.random.between(0, 7));
      return { op: "create", envId: ENV_ID, buildId: "", seed, hint: new Uint8Array(), stampMs };
    }
    if (this.over) return { op: "close", sessionId: this.sessionId, stampMs };
    const action = u32(this.random.pick([0, 0, 1, 2]));
    return {
      op: "step",
      sessionId: this.sessionId,
      expectedStep: this.acked.length,
      action,
      stampMs,
    };
  }

  private begin(command: SessionCommand): void {
    const op: InFlight = {
      command,
      requestId: this.nextRequestId,
      attemptDeadline: 0,
      retryAt: undefined,
      attempt: 0,
    };
    this.nextRequestId += 1;
    this.current = op;
    this.attempt(op);
  }

  private attempt(op: InFlight): void {
    const cluster = this.cluster;
    op.attempt += 1;
    const attempt = op.attempt;
    op.attemptDeadline = cluster.now + this.attemptTimeoutTicks;
    const hinted = this.leaderHint === undefined ? undefined : cluster.nodeByName(this.leaderHint);
    const target = hinted ?? this.random.pick(cluster.nodes);
    this.leaderHint = undefined;
    const engine = target.engine;
    if (engine === undefined || !cluster.isAvailable(target)) return;
    engine.submit(
      encodeSessionCommand(op.command),
      { clientId: this.clientId, requestId: op.requestId, timeoutTicks: this.attemptTimeoutTicks },
      (outcome) => {
        if (this.current !== op) return;
        if (!(outcome instanceof ConsensusError)) {
          this.settle(op, outcome);
        } else if (outcome.code === "SessionExpired" || outcome.code === "StaleRequest") {
          this.lost = true;
        } else if (op.attempt === attempt) {
          this.leaderHint = outcome.code === "NotLeader" ? outcome.leaderHint : undefined;
          op.retryAt = this.cluster.now + 1;
        }
      },
    );
  }

  private settle(op: InFlight, outcome: ProposalResult): void {
    this.current = undefined;
    const decoded = decodeOutcome(outcome.result);
    const command = op.command;
    if (!decoded.ok) {
      if (decoded.code === "EpisodeOver") this.over = true;
      else this.violations.push(`${this.clientId}: ${command.op} refused: ${decoded.code}`);
      return;
    }
    const result = decodeSessionResult(decoded.body);
    if (result.op === "create") {
      this.sessionId = result.session.sessionId;
      this.acked.length = 0;
      this.over = false;
    } else if (result.op === "step" && command.op === "step") {
      this.acked.push(command.action);
      this.ackedSteps += 1;
      this.over = result.transition.terminated || result.transition.truncated;
    } else if (result.op === "close") {
      this.sessionId = undefined;
    } else if (result.op === "stale") {
      this.violations.push(`${this.clientId}: a lone player's step was stale`);
    }
  }
}

/**
 * After faults healed and the replicas converged: every running replica holds the same sessions
 * (byte-identical snapshots of the part), every step acknowledged to a player is in its session,
 * and each session's state is the stateless replay of its actions.
 */
export async function checkSessions(
  cluster: SimCluster,
  players: readonly SimPlayer[],
  engine: Engine,
): Promise<string[]> {
  const failures = players.flatMap((player) => player.violations.slice(0, 1));
  const running = cluster.nodes.filter((node) => node.engine !== undefined);
  const first = running[0];
  if (first === undefined) return failures;
  const reference = Buffer.from(first.machine.sessionsSnapshot());
  for (const node of running.slice(1)) {
    if (!reference.equals(node.machine.sessionsSnapshot())) {
      failures.push(`sessions differ between ${first.nodeId} and ${node.nodeId}`);
    }
  }
  const sessions = first.machine.sessions;
  for (const player of players) {
    if (player.lost || player.sessionId === undefined || sessions === undefined) continue;
    const exported = sessions.exportOf(player.sessionId);
    const view = sessions.get(player.sessionId);
    if (exported === undefined || view === undefined) {
      failures.push(`${player.clientId}: session ${player.sessionId} is gone`);
      continue;
    }
    const same =
      exported.actions.length === player.acked.length &&
      exported.actions.every((action, i) =>
        Buffer.from(action).equals(player.acked[i] ?? new Uint8Array()),
      );
    if (!same) {
      failures.push(
        `${player.clientId}: ${player.sessionId} holds other actions than acknowledged`,
      );
      continue;
    }
    const selector = { envId: exported.envId, buildId: exported.buildId };
    let replay = await engine.reset(selector, exported.seed, exported.hint);
    for (const action of exported.actions) {
      replay = await engine.step(selector, replay.state, action);
    }
    if (!Buffer.from(replay.state).equals(view.state)) {
      failures.push(`${player.clientId}: ${player.sessionId} is not the replay of its actions`);
    }
  }
  return failures;
}
