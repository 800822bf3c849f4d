import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Message } from "../../host/consensus/core/messages.js";
import { expectGolden } from "./golden.js";
import { SimRandom } from "./random.js";
import { ScriptedCluster } from "./scripted-cluster.js";

/**
 * Scripted scenarios for the protocol's edges, each with what must and what must not happen.
 * The interesting part of each is recorded as a golden message trace in `testdata/` (rewrite with
 * `UPDATE_GOLDENS=1 npx vitest run test/sim/edge-scenarios.test.ts` and review the diff).
 */

describe("scenario: a stale accepted from an earlier leadership of the same replica", () => {
  it("is not counted by the new leadership: no commit until a follower accepts at the new ballot", () => {
    const cluster = new ScriptedCluster(3, 7);
    cluster.tracing = true;
    cluster.note("replica 1 leads (ballot 2.1) and proposes x into slot 1");
    cluster.campaign(1);
    cluster.propose(1, "x");
    cluster.drop({ type: "accept", to: 3 });
    cluster.deliver({ type: "accept", from: 1, to: 2 });
    cluster.note("replica 2's acknowledgement at ballot 2.1 is delayed in the network");
    const stale = cluster.take({ type: "accepted", from: 2, to: 1 });
    expect(stale).toHaveLength(1);
    cluster.drop({ from: 1 });
    cluster.crash(1);
    cluster.restart(1);
    cluster.note("replica 1 restarts and leads again at a higher ballot; slot 1 is open again");
    cluster.campaign(1);
    const ballot = cluster.replica(1).promisedBallot();
    expect(cluster.replica(1).status().commitIndex).toBe(0);
    expect(cluster.replica(1).entryAt(1)?.ballot).toBe(ballot);
    // The new leadership's accepts are held back: only the stale acknowledgement arrives.
    const accepts = cluster.take({ type: "accept", from: 1 });
    cluster.inject(stale);
    cluster.deliver({ type: "accepted", to: 1 });
    cluster.note("must not happen: slot 1 committed on an acknowledgement for ballot 2.1");
    expect(cluster.replica(1).status().commitIndex).toBe(0);
    cluster.inject(accepts.filter((message) => message.to === 2));
    cluster.deliver({ type: "accept", to: 2 });
    cluster.deliver({ type: "accepted", to: 1 });
    cluster.note("must happen: the acknowledgement at the new ballot commits slot 1");
    expect(cluster.replica(1).status().commitIndex).toBe(1);
    expect(cluster.chosenValue(1)).toBe("x#1");
    expectGolden("stale-accepted", cluster.trace());
  });
});

describe("scenario: a follower receives a snapshot while holding accepted slots above it", () => {
  it("installs it only when complete and keeps the accepted slots above the snapshot", () => {
    const cluster = new ScriptedCluster(3, 8, { snapshotChunkBytes: 64 });
    cluster.campaign(1);
    const values: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      values.push(cluster.propose(1, `v${i}`));
    }
    // Replica 2 accepts all 40 slots but its acknowledgements are lost; 3's commit them.
    cluster.deliver({ type: "accept", to: 2 });
    cluster.drop({ type: "accepted", from: 2 });
    cluster.deliver({ type: "accept", to: 3 });
    cluster.deliver({ type: "accepted", from: 3 });
    expect(cluster.replica(1).status().commitIndex).toBe(40);
    const oldBallot = cluster.replica(1).promisedBallot();
    // Replica 3 takes over (2 is cut off) and compacts slots 1..30 into a snapshot.
    cluster.run(4, [1, 3]);
    cluster.crash(1);
    cluster.restart(1);
    cluster.campaign(3, [1, 3]);
    expect(cluster.snapshot(3, 30)).toBe(30);
    expect(cluster.replica(2).status()).toMatchObject({ commitIndex: 0, lastIndex: 40 });
    cluster.tracing = true;
    cluster.note("replica 2 (commit 0, slots 1..40 accepted at ballot 2.1) hears the new leader");
    cluster.tick(2, [3]);
    cluster.drop({ to: 1 });
    cluster.deliver({ type: "heartbeat", from: 3, to: 2 });
    cluster.deliver({ type: "status", from: 2, to: 3 });
    // The snapshot arrives chunk by chunk; nothing is installed before the last one.
    for (;;) {
      const [chunk] = cluster.pending({ type: "installSnapshot", to: 2 });
      if (chunk?.type !== "installSnapshot") throw new Error("no chunk in flight");
      cluster.deliver({ type: "installSnapshot", to: 2 }, 1);
      if (chunk.last) break;
      cluster.note("must not happen: a partial snapshot installed");
      expect(cluster.replica(2).status().commitIndex).toBe(0);
      cluster.deliver({ type: "snapshotAck", to: 3 });
    }
    cluster.note("must happen: installed at 30, accepted slots 31..40 kept");
    expect(cluster.replica(2).status()).toMatchObject({
      commitIndex: 30,
      compactedIndex: 30,
      lastIndex: 40,
    });
    expect(cluster.replica(2).stats().snapshotsInstalled).toBe(1);
    for (let index = 31; index <= 40; index += 1) {
      expect(cluster.replica(2).entryAt(index)?.ballot).toBe(oldBallot);
    }
    expect(cluster.applied(2)).toEqual(values.slice(0, 30));
    cluster.tracing = false;
    // They survive a restart (persisted with the snapshot), and catch-up completes the log.
    cluster.crash(2);
    cluster.restart(2);
    expect(cluster.replica(2).entryAt(31)?.ballot).toBe(oldBallot);
    cluster.runUntil(() => cluster.applied(2).length === 40);
    expect(cluster.applied(2)).toEqual(values);
    expectGolden("snapshot-keeps-accepted-slots", cluster.trace());
  });
});

describe("scenario: an even-sized cluster's quorum", () => {
  it("2 of 4 never elect or commit; 3 of 4 do", () => {
    const cluster = new ScriptedCluster(4, 12);
    const half = (id: number) => (id <= 2 ? 0 : 1);
    // Two halves of two for 300 ticks: no pre-vote quorum, so no promise is even raised.
    for (let t = 0; t < 300; t += 1) {
      cluster.tick(1);
      cluster.drop({ where: (m) => half(m.from) !== half(m.to) });
      cluster.deliver();
      for (const id of cluster.ids) {
        expect(cluster.role(id)).not.toBe("leader");
        expect(cluster.replica(id).status()).toMatchObject({ promisedBallot: 0, commitIndex: 0 });
      }
    }
    cluster.drop({});
    cluster.tracing = true;
    cluster.note("healed: replica 1 campaigns; a quorum of 4 is 3");
    cluster.tick(10, [2, 3, 4]);
    cluster.drop({});
    while (cluster.pending({ type: "preVote", from: 1 }).length === 0) cluster.tick(1, [1]);
    cluster.deliver({ type: "preVote", to: 2 });
    cluster.deliver({ type: "preVoteReply", from: 2 });
    cluster.note("must not happen: phase 1 on 2 of 4 pre-votes");
    expect(cluster.role(1)).toBe("preCandidate");
    cluster.deliver({ type: "preVote", to: 3 });
    cluster.deliver({ type: "preVoteReply", from: 3 });
    expect(cluster.role(1)).toBe("candidate");
    cluster.deliver({ type: "prepare", to: 2 });
    cluster.deliver({ type: "promise", from: 2 });
    cluster.note("must not happen: leading on 2 of 4 promises");
    expect(cluster.role(1)).toBe("candidate");
    cluster.deliver({ type: "prepare", to: 3 });
    cluster.deliver({ type: "promise", from: 3 });
    expect(cluster.role(1)).toBe("leader");
    cluster.drop({});
    const value = cluster.propose(1, "v");
    cluster.deliver({ type: "accept", to: 2 });
    cluster.deliver({ type: "accepted", from: 2 });
    cluster.note("must not happen: a commit on 2 of 4 acceptances");
    expect(cluster.replica(1).status().commitIndex).toBe(0);
    cluster.deliver({ type: "accept", to: 3 });
    cluster.deliver({ type: "accepted", from: 3 });
    cluster.note("must happen: committed on 3 of 4");
    expect(cluster.replica(1).status().commitIndex).toBe(1);
    expect(cluster.chosenValue(1)).toBe(value);
    expectGolden("even-quorum", cluster.trace());
  });
});

describe("scenario: a candidate receives only part of a chunked phase-1 report", () => {
  it("does not complete phase 1 until every chunk arrived, then recovers every chosen value", () => {
    const cluster = new ScriptedCluster(3, 13, { maxEntriesPerMessage: 2 });
    cluster.campaign(1);
    const values: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      values.push(cluster.propose(1, `v${i}`));
    }
    // Slots 1..7 are chosen by replicas 1 and 3; replica 3 never learns it; 2 saw nothing.
    cluster.drop({ to: 2 });
    cluster.deliver({ type: "accept", to: 3 });
    cluster.deliver({ type: "accepted", to: 1 });
    expect(cluster.applied(1)).toEqual(values);
    expect(cluster.replica(3).status().commitIndex).toBe(0);
    cluster.drop({ from: 1 });
    cluster.crash(1);
    cluster.tracing = true;
    cluster.note("replica 2 (empty) campaigns; replica 3 reports slots 1..7 two at a time");
    cluster.tick(10, [3]);
    cluster.drop({});
    while (cluster.role(2) !== "preCandidate") cluster.tick(1, [2]);
    cluster.deliver({ type: "preVote", to: 3 });
    cluster.deliver({ type: "preVoteReply", to: 2 });
    cluster.deliver({ type: "prepare", to: 3 });
    const [first] = cluster.pending({ type: "promise", to: 2 });
    if (first === undefined) throw new Error("no promise");
    cluster.deliver({ type: "promise", to: 2 });
    const next = cluster.take({ type: "prepare", to: 3 });
    cluster.note("a duplicate of the first chunk arrives again");
    cluster.inject([first]);
    cluster.deliver({ type: "promise", to: 2 });
    cluster.drop({ type: "prepare" });
    cluster.note("must not happen: phase 1 complete on a partial report");
    expect(cluster.role(2)).toBe("candidate");
    cluster.inject(next);
    cluster.deliver({ where: (m: Message) => m.type === "prepare" || m.type === "promise" });
    cluster.note("must happen: leads after the last chunk, re-proposing every reported value");
    expect(cluster.role(2)).toBe("leader");
    for (let index = 1; index <= 7; index += 1) {
      const entry = cluster.replica(2).entryAt(index);
      expect(entry?.value.kind === "batch" && entry.value.commands[0]?.clientId).toBe(
        `v${index - 1}`,
      );
    }
    cluster.tracing = false;
    cluster.restart(1);
    cluster.runUntil(() => cluster.ids.every((id) => cluster.applied(id).length >= 7));
    for (const id of cluster.ids) {
      expect(cluster.applied(id).slice(0, 7)).toEqual(values);
    }
    expectGolden("partial-phase1-report", cluster.trace());
  });
});

describe("scenario: a snapshot in flight to a slow follower", () => {
  function laggingFollower(options: { dropEvery?: number }) {
    const cluster = new ScriptedCluster(3, 14, {
      snapshotChunkBytes: 64,
      snapshotRetransmitTicks: 6,
    });
    cluster.campaign(1);
    for (let i = 0; i < 40; i += 1) {
      cluster.propose(1, `value-${i}`);
      cluster.run(1, [1, 3]);
    }
    cluster.runUntil(() => cluster.applied(3).length === 40, [1, 3]);
    cluster.snapshot(1);
    const bytes = cluster.replica(1).latestSnapshot()?.data.byteLength ?? 0;
    const chunks = Math.ceil(bytes / 64);
    // Replica 2 rejoins but installing is slow: its acknowledgements take up to 5 ticks (more
    // than a heartbeat interval) to come back. Every `dropEvery`th chunk may be lost on the way.
    let held: Message[] = [];
    const seen = new WeakSet<Message>();
    let chunkCount = 0;
    const lost = (m: Message): boolean => {
      if (m.type !== "installSnapshot" || seen.has(m)) return false;
      seen.add(m);
      chunkCount += 1;
      return options.dropEvery !== undefined && chunkCount % options.dropEvery === 0;
    };
    for (let t = 0; t < 40; t += 1) {
      cluster.tick(1);
      if (t % 5 === 4) {
        cluster.inject(held);
        held = [];
        cluster.deliver({ type: "snapshotAck", from: 2 });
      }
      for (let round = 0; round < 50; round += 1) {
        cluster.drop({ where: lost });
        held.push(...cluster.take({ type: "snapshotAck", from: 2 }));
        if (cluster.deliver({ where: (m) => m.type !== "snapshotAck" || m.from !== 2 }, 1) === 0) {
          break;
        }
      }
    }
    cluster.inject(held);
    cluster.runUntil(() => cluster.applied(2).length === 40);
    return { cluster, chunks, stats: cluster.replica(1).stats() };
  }

  it("sends exactly one snapshot's worth of chunks, not one snapshot per heartbeat", () => {
    const { cluster, chunks, stats } = laggingFollower({});
    expect(chunks).toBeGreaterThan(5);
    expect(stats.snapshotChunksRetransmitted).toBe(0);
    expect(stats.snapshotChunksSent).toBe(chunks);
    expect(cluster.replica(2).stats().snapshotsInstalled).toBe(1);
  });

  it("retransmits lost chunks on a timer, a bounded number of times", () => {
    const { cluster, chunks, stats } = laggingFollower({ dropEvery: 3 });
    expect(stats.snapshotChunksRetransmitted).toBeGreaterThan(0);
    expect(stats.snapshotChunksSent).toBe(chunks + stats.snapshotChunksRetransmitted);
    expect(stats.snapshotChunksRetransmitted).toBeLessThanOrEqual(chunks);
    expect(cluster.replica(2).stats().snapshotsInstalled).toBe(1);
  });
});

describe("property: a snapshot transfer over a lossy, duplicating, reordering network", () => {
  it("installs the leader's snapshot exactly once, with chunks bounded by its size and the ticks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        (seed, lossRate, duplicateRate) => {
          const retransmitTicks = 4;
          const cluster = new ScriptedCluster(3, seed % 1000, {
            snapshotChunkBytes: 32,
            snapshotRetransmitTicks: retransmitTicks,
          });
          cluster.campaign(1);
          for (let i = 0; i < 20; i += 1) {
            cluster.propose(1, `value-${i}`);
            cluster.run(1, [1, 3]);
          }
          cluster.runUntil(() => cluster.applied(3).length === 20, [1, 3]);
          cluster.snapshot(1);
          const bytes = cluster.replica(1).latestSnapshot()?.data.byteLength ?? 0;
          const chunks = Math.ceil(bytes / 32);
          const random = new SimRandom(seed);
          let ticks = 0;
          // Only the links to and from replica 2 are faulty; the rest is a reliable network.
          const faulty = (m: Message) => m.to === 2 || m.from === 2;
          while (cluster.applied(2).length < 20 && ticks < 2_000) {
            cluster.tick(1);
            ticks += 1;
            for (let round = 0; round < 20; round += 1) {
              const batch = cluster.take({});
              if (batch.length === 0) break;
              const survivors: Message[] = [];
              for (const message of batch) {
                if (faulty(message) && random.chance(lossRate)) continue;
                survivors.push(message);
                if (faulty(message) && random.chance(duplicateRate)) survivors.push(message);
              }
              // Reorder: a seeded shuffle of what is delivered this round.
              for (let i = survivors.length - 1; i > 0; i -= 1) {
                const j = random.nextInt(i + 1);
                [survivors[i], survivors[j]] = [survivors[j] as Message, survivors[i] as Message];
              }
              cluster.inject(survivors);
              cluster.deliver({}, survivors.length);
            }
          }
          expect(cluster.applied(2)).toEqual(cluster.applied(1));
          expect(cluster.replica(2).stats().snapshotsInstalled).toBe(1);
          const sent = cluster.replica(1).stats().snapshotChunksSent;
          // Each chunk goes once, plus at most one resend per idle retransmit interval; a stale
          // acknowledgement overtaken by a newer one rewinds the transfer, and at most one
          // snapshot's worth of chunks is sent again on that account.
          expect(sent).toBeLessThanOrEqual(chunks + Math.ceil(ticks / retransmitTicks) + chunks);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("scenario: a chunked phase 1 that outlasts the election timeout", () => {
  /**
   * Runs replicas `ids` in lockstep rounds for up to `maxRounds`: each round delivers the
   * messages sent in the previous one (one hop per round, so a chunk's round trip takes two),
   * then ticks each replica `rates[i]` times (a faster clock ticks more). Returns the round in
   * which `done` first held, or undefined.
   */
  function lockstep(
    cluster: ScriptedCluster,
    ids: readonly number[],
    rates: readonly number[],
    maxRounds: number,
    done: () => boolean,
  ): number | undefined {
    const inside = new Set(ids);
    for (let round = 1; round <= maxRounds; round += 1) {
      cluster.drop({ where: (m) => !inside.has(m.from) || !inside.has(m.to) });
      const hop = new Set(cluster.pending());
      cluster.deliver({ where: (m) => hop.has(m) });
      ids.forEach((id, i) => {
        cluster.tick(rates[i] ?? 1, [id]);
      });
      if (done()) return round;
    }
    return undefined;
  }

  /**
   * Slots 1..16 are chosen, accepted by replicas 2 and 3, and neither knows it; the leader
   * crashes. Whoever campaigns needs the other's report of 16 one-entry chunks: 32 rounds, more
   * than an election timeout (10 to 19 ticks), and longer still for a replica whose clock runs 3x.
   */
  function longPhase1(seed: number): { cluster: ScriptedCluster; values: string[] } {
    const cluster = new ScriptedCluster(3, seed, { maxEntriesPerMessage: 1 });
    cluster.campaign(1);
    const values: string[] = [];
    for (let i = 0; i < 16; i += 1) {
      values.push(cluster.propose(1, `v${i}`));
    }
    cluster.deliver({ type: "accept" });
    cluster.deliver({ type: "accepted", to: 1 });
    expect(cluster.replica(1).status().commitIndex).toBe(16);
    cluster.drop({});
    cluster.crash(1);
    for (const id of [2, 3]) {
      expect(cluster.replica(id).status()).toMatchObject({ commitIndex: 0, lastIndex: 16 });
    }
    // Replica 3 goes an election timeout without a leader (its own pre-votes lost); then
    // replica 2 times out and asks for pre-votes: 2 is the candidate, 3 its acceptor.
    cluster.tick(10, [3]);
    cluster.drop({});
    while (cluster.role(2) !== "preCandidate") cluster.tick(1, [2]);
    return { cluster, values };
  }

  /** Ballots of the prepares in flight each round, to see every phase 1 that was started. */
  function expectOnePhase1(cluster: ScriptedCluster, values: readonly string[]): void {
    const leader = [2, 3].find((id) => cluster.role(id) === "leader");
    if (leader === undefined) throw new Error("no leader");
    for (let index = 1; index <= 16; index += 1) {
      const entry = cluster.replica(leader).entryAt(index);
      expect(entry?.value.kind === "batch" && entry.value.commands[0]?.clientId).toBe(
        `v${index - 1}`,
      );
    }
    cluster.tracing = false;
    cluster.runUntil(() => [2, 3].every((id) => cluster.applied(id).length >= 16), [2, 3]);
    for (const id of [2, 3]) {
      expect(cluster.applied(id).slice(0, 16)).toEqual(values);
    }
  }

  /** Every prepare ballot the scenario sends, recorded as rounds go by. */
  function watchBallots(cluster: ScriptedCluster): () => Set<number> {
    const ballots = new Set<number>();
    return () => {
      for (const message of cluster.pending({ type: "prepare" })) ballots.add(message.ballot);
      return ballots;
    };
  }

  it("elects the first candidate on a slow link: its progress holds the rival back", () => {
    const { cluster, values } = longPhase1(21);
    cluster.tracing = true;
    cluster.note("replicas 2 and 3 hold slots 1..16 (chosen, unknown to them); one hop per tick");
    const ballots = watchBallots(cluster);
    const round = lockstep(cluster, [2, 3], [1, 1], 200, () => {
      ballots();
      return cluster.role(2) === "leader" || cluster.role(3) === "leader";
    });
    cluster.note("must happen: the first candidate leads once its 16 chunks arrived");
    cluster.note("must not happen: a rival ballot preempting a phase 1 that makes progress");
    expect(round).toBeDefined();
    expect(round).toBeLessThan(80);
    expect(ballots().size).toBe(1);
    expectOnePhase1(cluster, values);
    expectGolden("long-phase1-slow-link", cluster.trace());
  });

  it("elects a leader when one replica's clock runs 3x faster than the candidate's", () => {
    const { cluster, values } = longPhase1(22);
    cluster.tracing = true;
    cluster.note("replica 3's clock runs 3x as fast as replica 2's; one hop per tick of 2");
    const ballots = watchBallots(cluster);
    const round = lockstep(cluster, [2, 3], [1, 3], 200, () => {
      ballots();
      return cluster.role(2) === "leader" || cluster.role(3) === "leader";
    });
    cluster.note("must happen: a leader within a bounded number of rounds");
    expect(round).toBeDefined();
    expect(round).toBeLessThan(80);
    expect(ballots().size).toBe(1);
    expectOnePhase1(cluster, values);
    expectGolden("long-phase1-fast-clock", cluster.trace());
  });
});
