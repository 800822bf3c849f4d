import { type Ballot, ballotOwner, NO_BALLOT, nextBallot } from "./ballot.js";
import { type ClusterConfig, type CoreOptions, quorumSize, validateConfig } from "./config.js";
import {
  type Command,
  commandBytes,
  type Entry,
  type HardState,
  NOOP,
  type Snapshot,
  slotValueBytes,
} from "./entry.js";
import { ConsensusError, invariant } from "./errors.js";
import { SlotLog } from "./log.js";
import type {
  AcceptedMessage,
  AcceptGapMessage,
  AcceptMessage,
  HeartbeatMessage,
  InstallSnapshotMessage,
  LearnMessage,
  Message,
  NackMessage,
  PrepareMessage,
  PreVoteMessage,
  PreVoteReplyMessage,
  PromiseMessage,
  SnapshotAckMessage,
  StatusMessage,
} from "./messages.js";
import { PrepareTally } from "./prepare.js";
import { newProgress, type Progress } from "./progress.js";
import type { Ready } from "./ready.js";
import type { Rng } from "./rng.js";
import { SnapshotAssembly, snapshotChunk } from "./snapshot-transfer.js";
import { copyStats, emptyStats, type ReplicaStats } from "./stats.js";
import { type ValidationContext, validateMessage } from "./validate.js";

/** The part a replica currently plays. Every replica is always an acceptor and a learner too. */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** What a replica starts from: its identity, its tunables and whatever storage had persisted. */
export interface ReplicaInit {
  readonly config: ClusterConfig;
  readonly replicaId: number;
  readonly options: CoreOptions;
  readonly rng: Rng;
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  /** Persisted entries, contiguous, the first at `compactedIndex + 1`. */
  readonly compactedIndex: number;
  readonly entries: readonly Entry[];
}

/** A read-only view of a replica, for drivers, tests and the simulator's checks. */
export interface ReplicaStatus {
  readonly replicaId: number;
  readonly role: Role;
  readonly promisedBallot: Ballot;
  readonly leaderReplicaId: number | undefined;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly compactedIndex: number;
  readonly pendingCommands: number;
}

/**
 * One Multi-Paxos replica (proposer, acceptor and learner) as a pure, tick-driven state machine.
 *
 * Inputs are `tick()`, `step(message)` and `propose(commands)`; outputs are collected into a
 * {@link Ready} by `ready()`, which the driver must persist, send and apply before calling
 * `advance()`. Nothing in here touches clocks, timers, sockets or disk, and randomness comes only
 * from the injected {@link Rng}, so a replica's behaviour is a function of its inputs.
 *
 * Protocol in brief: a replica whose election timer fires asks for pre-votes (which change no
 * state, so a partitioned replica cannot disrupt a healthy leader); with a quorum of pre-votes it
 * runs phase 1 once, for every slot above its commit index, with a fresh ballot. With a quorum of
 * promises it becomes the stable leader, re-proposes every open slot at its ballot (the chosen or
 * highest-ballot value, or a no-op for gaps) and then runs phase 2 per slot, pipelining up to
 * `windowSlots` slots beyond the commit index and batching many commands into one slot.
 */
export class Replica {
  private readonly config: ClusterConfig;
  private readonly options: CoreOptions;
  private readonly rng: Rng;
  private readonly id: number;
  private readonly peers: readonly number[];
  private readonly quorum: number;
  private readonly log: SlotLog;
  private readonly validation: ValidationContext;
  private readonly counters = emptyStats();

  private roleValue: Role = "follower";
  private promised: Ballot;
  private highestSeenBallot: Ballot;
  /** The ballot this replica campaigns or leads with; meaningful for candidate and leader. */
  private ownBallot: Ballot = NO_BALLOT;
  private leader: number | undefined;
  private commit: number;
  private applied: number;
  private snapshotValue: Snapshot | undefined;

  private electionElapsedTicks = 0;
  private randomizedElectionTimeoutTicks: number;
  private heartbeatElapsedTicks = 0;

  /**
   * The candidate this acceptor promised and is streaming its phase-1 report to. Like a leader's
   * heartbeats, its chunk requests reset the election timer and make this replica refuse
   * pre-votes, so a long chunked phase 1 is not preempted while it makes progress.
   */
  private promisedCandidate: number | undefined;
  private preVoteBallot: Ballot = NO_BALLOT;
  private readonly preVotes = new Set<number>();
  private tally: PrepareTally | undefined;
  private readonly progress = new Map<number, Progress>();
  /** The first slot this leadership proposes at its own ballot; slots below are chosen. */
  private startIndex = 0;
  private pending: Command[] = [];

  private persistedHardState: HardState;
  private unsavedIndexes = new Set<number>();
  private outbox: Message[] = [];
  private snapshotToInstall: Snapshot | undefined;
  private dropped: Command[] = [];
  private awaitingAdvance = false;
  /** A snapshot being received chunk by chunk (at most one). */
  private incoming: SnapshotAssembly | undefined;
  /**
   * Snapshot chunks served to lagging candidates while not leading: per candidate, the offset of
   * the last chunk sent, so a duplicated ack does not start a second stream of chunks.
   */
  private readonly servedChunks = new Map<number, { index: number; offset: number }>();

  constructor(init: ReplicaInit) {
    validateConfig(init.config, init.options);
    invariant(
      init.config.members.some((member) => member.replicaId === init.replicaId),
      `replica ${init.replicaId} is not a member`,
    );
    this.config = init.config;
    this.options = init.options;
    this.rng = init.rng;
    this.id = init.replicaId;
    this.peers = init.config.members
      .map((member) => member.replicaId)
      .filter((replicaId) => replicaId !== init.replicaId);
    this.quorum = quorumSize(init.config);
    this.validation = {
      self: init.replicaId,
      members: new Set(init.config.members.map((member) => member.replicaId)),
      options: init.options,
    };
    this.log = new SlotLog(init.compactedIndex, init.entries);
    this.snapshotValue = init.snapshot;
    const snapshotIndex = init.snapshot?.index ?? 0;
    invariant(init.hardState.commitIndex >= snapshotIndex, "commit index below snapshot");
    invariant(init.hardState.commitIndex <= this.log.lastIndex, "commit index beyond log");
    this.promised = init.hardState.promisedBallot;
    this.highestSeenBallot = init.hardState.promisedBallot;
    this.commit = init.hardState.commitIndex;
    this.applied = snapshotIndex;
    this.persistedHardState = init.hardState;
    this.randomizedElectionTimeoutTicks = this.randomElectionTimeout();
  }

  // ---------------------------------------------------------------- queries

  /** A snapshot of the replica's externally meaningful state. */
  status(): ReplicaStatus {
    return {
      replicaId: this.id,
      role: this.roleValue,
      promisedBallot: this.promised,
      leaderReplicaId: this.leader,
      commitIndex: this.commit,
      appliedIndex: this.applied,
      lastIndex: this.log.lastIndex,
      compactedIndex: this.log.compactedIndex,
      pendingCommands: this.pending.length,
    };
  }

  /** The highest ballot this replica has promised (its leader ballot while it leads). */
  promisedBallot(): Ballot {
    return this.promised;
  }

  /** The entry this acceptor holds in slot `index`, if any (for checks and snapshots). */
  entryAt(index: number): Entry | undefined {
    return this.log.get(index);
  }

  /** The most recent snapshot this replica holds. */
  latestSnapshot(): Snapshot | undefined {
    return this.snapshotValue;
  }

  /** Counters of refused messages and snapshot transfers (a copy). */
  stats(): ReplicaStats {
    return copyStats(this.counters);
  }

  // ---------------------------------------------------------------- inputs

  /** Advances logical time by one tick: election timers, heartbeats and retransmission. */
  tick(): void {
    this.electionElapsedTicks += 1;
    if (this.roleValue === "leader") {
      this.tickLeader();
      return;
    }
    if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.startPreVote();
    } else if (this.roleValue === "candidate") {
      this.tickCandidate();
    }
  }

  /**
   * Queues commands for the next slot. Throws `NotLeader` (nothing was proposed) or `Overloaded`
   * (the pending queue is full). Commands are placed into slots when `ready()` is called, so all
   * commands proposed between two Readys can share one slot.
   */
  propose(commands: readonly Command[]): void {
    if (this.roleValue !== "leader") {
      throw new ConsensusError("NotLeader", `replica ${this.id} is ${this.roleValue}`);
    }
    if (this.pending.length + commands.length > this.options.maxPendingCommands) {
      throw new ConsensusError("Overloaded", "pending proposal queue is full");
    }
    for (const command of commands) {
      if (commandBytes(command) > this.options.maxBatchBytes) {
        throw new ConsensusError("InvalidArgument", "command is larger than maxBatchBytes");
      }
    }
    this.pending.push(...commands);
  }

  /**
   * Handles one message from a peer. A message that fails {@link validateMessage} (from a
   * non-member, for another replica, malformed or beyond the limits) is counted in `stats()` and
   * changes nothing else. Never throws for a message that passes validation.
   */
  step(message: Message): void {
    const reason = validateMessage(message, this.validation);
    if (reason !== undefined) {
      this.counters.rejectedMessages[reason] += 1;
      return;
    }
    if (message.ballot > this.highestSeenBallot) {
      this.highestSeenBallot = message.ballot;
    }
    switch (message.type) {
      case "preVote":
        this.onPreVote(message);
        break;
      case "preVoteReply":
        this.onPreVoteReply(message);
        break;
      case "prepare":
        this.onPrepare(message);
        break;
      case "promise":
        this.onPromise(message);
        break;
      case "accept":
        this.onAccept(message);
        break;
      case "accepted":
        this.onAccepted(message);
        break;
      case "acceptGap":
        this.onAcceptGap(message);
        break;
      case "heartbeat":
        this.onHeartbeat(message);
        break;
      case "status":
        this.onStatus(message);
        break;
      case "learn":
        this.onLearn(message);
        break;
      case "installSnapshot":
        this.onInstallSnapshot(message);
        break;
      case "snapshotAck":
        this.onSnapshotAck(message);
        break;
      case "nack":
        this.onNack(message);
        break;
    }
  }

  /**
   * Records that the driver persisted `snapshot` (covering slots up to `snapshot.index`, which
   * must already be applied) and dropped persisted slots up to `compactThroughIndex`.
   */
  compact(snapshot: Snapshot, compactThroughIndex: number): void {
    invariant(snapshot.index <= this.applied, "snapshot beyond applied index");
    invariant(compactThroughIndex <= snapshot.index, "compaction beyond snapshot");
    if (this.snapshotValue === undefined || snapshot.index > this.snapshotValue.index) {
      this.snapshotValue = snapshot;
    }
    this.log.compactThrough(compactThroughIndex);
  }

  // ---------------------------------------------------------------- outputs

  /** Whether `ready()` would return anything to do. */
  hasReady(): boolean {
    return (
      this.outbox.length > 0 ||
      this.unsavedIndexes.size > 0 ||
      this.hardStateChanged() ||
      this.snapshotToInstall !== undefined ||
      this.dropped.length > 0 ||
      this.applied < this.commit ||
      (this.roleValue === "leader" && this.pending.length > 0 && this.windowHasRoom())
    );
  }

  /**
   * Collects what the driver must persist, send and apply. The driver must handle the result as
   * documented on {@link Ready} and call `advance()` before the next `ready()`.
   */
  ready(): Ready {
    invariant(!this.awaitingAdvance, "ready() called twice without advance()");
    this.placePendingCommands();
    const hardState = this.hardStateChanged()
      ? { promisedBallot: this.promised, commitIndex: this.commit }
      : undefined;
    const indexes = [...this.unsavedIndexes].sort((a, b) => a - b);
    const entries: Entry[] = [];
    for (const index of indexes) {
      const entry = this.log.get(index);
      if (entry !== undefined) {
        entries.push(entry);
      }
    }
    const committedEntries = this.log.slice(
      this.applied + 1,
      this.commit,
      this.options.maxCommittedPerReady,
    );
    invariant(
      committedEntries.length > 0 || this.applied >= this.commit,
      "committed slots missing from the log",
    );
    const ready: Ready = {
      hardState,
      entries,
      snapshot: this.snapshotToInstall,
      messages: this.outbox,
      committedEntries,
      droppedCommands: this.dropped,
    };
    this.unsavedIndexes = new Set();
    this.outbox = [];
    this.snapshotToInstall = undefined;
    this.dropped = [];
    if (hardState !== undefined) {
      this.persistedHardState = hardState;
    }
    this.awaitingAdvance = true;
    return ready;
  }

  /** Acknowledges that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void {
    invariant(this.awaitingAdvance, "advance() without ready()");
    this.awaitingAdvance = false;
    const last = ready.committedEntries.at(-1);
    if (last !== undefined) {
      invariant(last.index > this.applied, "applied index must grow");
      this.applied = last.index;
    }
  }

  // ---------------------------------------------------------------- elections

  private startPreVote(): void {
    if (this.roleValue === "leader") {
      return;
    }
    this.roleValue = "preCandidate";
    this.leader = undefined;
    this.promisedCandidate = undefined;
    this.tally = undefined;
    this.resetElectionTimer();
    this.preVoteBallot = nextBallot(Math.max(this.promised, this.highestSeenBallot), this.id);
    this.preVotes.clear();
    this.preVotes.add(this.id);
    for (const peer of this.peers) {
      this.send({
        type: "preVote",
        from: this.id,
        to: peer,
        ballot: this.preVoteBallot,
        commitIndex: this.commit,
      });
    }
    if (this.preVotes.size >= this.quorum) {
      this.startPhase1();
    }
  }

  private onPreVote(message: PreVoteMessage): void {
    // A replica that hears from a live leader refuses, so a returning partitioned replica cannot
    // depose it; a lagging candidate is refused too, so leaders are the most up-to-date. A phase 1
    // in progress (this replica's own, or one it promised) counts as a live leader: a chunked
    // report may take longer than an election timeout, and a rival would preempt it forever.
    const hearsLeader =
      this.roleValue === "leader" ||
      (this.electionElapsedTicks < this.options.electionTimeoutTicks &&
        (this.leader !== undefined ||
          this.roleValue === "candidate" ||
          this.promisedCandidate !== undefined));
    const granted =
      !hearsLeader && message.ballot > this.promised && message.commitIndex >= this.commit;
    this.send({
      type: "preVoteReply",
      from: this.id,
      to: message.from,
      ballot: message.ballot,
      granted,
    });
  }

  private onPreVoteReply(message: PreVoteReplyMessage): void {
    if (
      this.roleValue !== "preCandidate" ||
      message.ballot !== this.preVoteBallot ||
      !message.granted
    ) {
      return;
    }
    this.preVotes.add(message.from);
    if (this.preVotes.size >= this.quorum) {
      this.startPhase1();
    }
  }

  private startPhase1(): void {
    const ballot = nextBallot(Math.max(this.promised, this.highestSeenBallot), this.id);
    invariant(ballot > this.promised, "a new ballot must exceed the promised one");
    this.roleValue = "candidate";
    this.ownBallot = ballot;
    this.promised = ballot;
    this.highestSeenBallot = ballot;
    this.leader = undefined;
    this.resetElectionTimer();
    this.heartbeatElapsedTicks = 0;
    const fromIndex = this.commit + 1;
    const tally = new PrepareTally(ballot, fromIndex);
    this.tally = tally;
    // This replica's own acceptor promises first; its whole suffix is local, so one chunk.
    const own = this.log.slice(fromIndex, this.log.lastIndex, Number.MAX_SAFE_INTEGER);
    tally.record(this.id, fromIndex, own, this.log.lastIndex, this.commit);
    for (const peer of this.peers) {
      this.send({
        type: "prepare",
        from: this.id,
        to: peer,
        ballot,
        fromIndex,
        commitIndex: this.commit,
      });
    }
    if (tally.completeCount() >= this.quorum) {
      this.becomeLeader();
    }
  }

  /**
   * Every heartbeat interval, asks again for the next chunk of each report that did not move
   * since the previous interval (a lost prepare or promise would otherwise stall phase 1 until
   * the election timer abandons it; a long chunked report on a lossy link would never finish).
   */
  private tickCandidate(): void {
    const tally = this.tally;
    this.heartbeatElapsedTicks += 1;
    if (tally === undefined || this.heartbeatElapsedTicks < this.options.heartbeatIntervalTicks) {
      return;
    }
    this.heartbeatElapsedTicks = 0;
    for (const [peer, fromIndex] of tally.stalledReports()) {
      this.send({
        type: "prepare",
        from: this.id,
        to: peer,
        ballot: this.ownBallot,
        fromIndex,
        commitIndex: this.commit,
      });
    }
  }

  private onPrepare(message: PrepareMessage): void {
    if (message.ballot < this.promised) {
      this.nack(message.from);
      return;
    }
    if (message.fromIndex <= this.log.compactedIndex) {
      // The candidate lags behind what this acceptor compacted; promising cannot report those
      // slots, so hand it the snapshot instead and let it campaign again. The candidate's acks
      // pull the remaining chunks (see onSnapshotAck).
      if (this.snapshotValue !== undefined) {
        this.sendSnapshotChunk(message.from, this.promised, this.snapshotValue, 0);
        this.servedChunks.set(message.from, { index: this.snapshotValue.index, offset: 0 });
      }
      return;
    }
    if (message.ballot > this.promised) {
      this.promised = message.ballot;
      this.becomeFollower(undefined);
    }
    if (this.roleValue === "preCandidate") {
      // The candidate this replica promised is still running phase 1: follow it again.
      this.becomeFollower(undefined);
    }
    // The promised candidate is making progress (a first prepare or the next chunk request).
    // (Validation guarantees a prepare's ballot is its sender's; this replica is a follower.)
    this.promisedCandidate = message.from;
    this.electionElapsedTicks = 0;
    const entries = this.boundedSlice(message.fromIndex, this.log.lastIndex);
    this.send({
      type: "promise",
      from: this.id,
      to: message.from,
      ballot: message.ballot,
      fromIndex: message.fromIndex,
      entries,
      lastIndex: this.log.lastIndex,
      commitIndex: this.commit,
    });
  }

  private onPromise(message: PromiseMessage): void {
    const tally = this.tally;
    if (
      this.roleValue !== "candidate" ||
      tally === undefined ||
      message.ballot !== this.ownBallot
    ) {
      return;
    }
    const expected = tally.expectedFrom(message.from);
    if (expected === undefined || expected !== message.fromIndex) {
      return;
    }
    const next = tally.record(
      message.from,
      message.fromIndex,
      message.entries,
      message.lastIndex,
      message.commitIndex,
    );
    if (next === undefined || next > message.fromIndex) {
      // A chunk that moved a report forward is progress: the candidate keeps its phase 1 going
      // instead of abandoning it for a new ballot (each report is finite, so this ends).
      this.electionElapsedTicks = 0;
    }
    if (next !== undefined) {
      this.send({
        type: "prepare",
        from: this.id,
        to: message.from,
        ballot: this.ownBallot,
        fromIndex: next,
        commitIndex: this.commit,
      });
    }
    if (tally.completeCount() >= this.quorum) {
      this.becomeLeader();
    }
  }

  private becomeLeader(): void {
    const tally = this.tally;
    invariant(tally !== undefined && this.roleValue === "candidate", "leader without phase 1");
    invariant(this.promised === this.ownBallot, "leader ballot must be the promised ballot");
    this.roleValue = "leader";
    this.leader = this.id;
    this.tally = undefined;
    this.incoming = undefined;
    // Slots some acceptor knows chosen extend the commit index directly.
    for (;;) {
      const slot = tally.slot(this.commit + 1);
      if (slot === undefined || !slot.chosen) {
        break;
      }
      this.writeSlot({ index: this.commit + 1, ballot: slot.ballot, value: slot.value });
      this.commit += 1;
    }
    this.startIndex = this.commit + 1;
    // Every other open slot is re-proposed at this ballot: the value Paxos makes safe, or a
    // no-op where no acceptor in the quorum accepted anything.
    const highest = Math.max(tally.highestIndex(), this.log.lastIndex);
    for (let index = this.startIndex; index <= highest; index += 1) {
      const slot = tally.slot(index);
      this.writeSlot({ index, ballot: this.ownBallot, value: slot?.value ?? NOOP });
    }
    this.progress.clear();
    for (const peer of this.peers) {
      this.progress.set(peer, newProgress(this.startIndex));
    }
    this.heartbeatElapsedTicks = 0;
    this.electionElapsedTicks = 0;
    this.broadcastHeartbeat();
    this.maybeCommit();
    for (const peer of this.peers) {
      this.sendAccepts(peer);
    }
  }

  private becomeFollower(leader: number | undefined): void {
    if (this.roleValue === "leader") {
      this.dropped.push(...this.pending);
      this.pending = [];
      this.progress.clear();
    }
    this.roleValue = "follower";
    this.tally = undefined;
    this.leader = leader;
    this.promisedCandidate = undefined;
    this.resetElectionTimer();
  }

  private onNack(message: NackMessage): void {
    if (
      (this.roleValue === "leader" || this.roleValue === "candidate") &&
      message.ballot > this.ownBallot
    ) {
      this.becomeFollower(undefined);
    }
  }

  /** Adopts the sender as leader if its ballot is current; returns false if it is stale. */
  private acceptLeader(from: number, ballot: Ballot): boolean {
    if (ballot < this.promised) {
      this.nack(from);
      return false;
    }
    if (ballotOwner(ballot) !== from) {
      // Only a ballot's owner leads with it; anything else is malformed and ignored.
      return false;
    }
    if (ballot > this.promised || this.roleValue !== "follower") {
      this.promised = ballot;
      this.becomeFollower(from);
    }
    this.leader = from;
    this.electionElapsedTicks = 0;
    if (this.incoming !== undefined && this.incoming.from !== from) {
      // Another replica's snapshot transfer ends with its leadership: free the partial copy (the
      // new leader sends its own snapshot if this replica still needs one).
      this.incoming = undefined;
    }
    return true;
  }

  // ---------------------------------------------------------------- phase 2 (acceptor side)

  private onAccept(message: AcceptMessage): void {
    if (!this.acceptLeader(message.from, message.ballot)) {
      return;
    }
    const first = message.entries[0];
    invariant(first !== undefined, "accept messages carry entries");
    if (first.index > this.log.lastIndex + 1) {
      this.advanceFollowerCommit(message.commitIndex, message.ballot);
      this.send({
        type: "acceptGap",
        from: this.id,
        to: message.from,
        ballot: message.ballot,
        commitIndex: this.commit,
        lastIndex: this.log.lastIndex,
      });
      return;
    }
    let expected = first.index;
    for (const entry of message.entries) {
      invariant(entry.index === expected, "accept range must be contiguous");
      // Chosen slots keep their value: any later ballot can only carry that same value.
      if (entry.index > this.commit && entry.index > this.log.compactedIndex) {
        this.writeSlot({ index: entry.index, ballot: message.ballot, value: entry.value });
      }
      expected += 1;
    }
    this.advanceFollowerCommit(message.commitIndex, message.ballot);
    this.send({
      type: "accepted",
      from: this.id,
      to: message.from,
      ballot: message.ballot,
      fromIndex: first.index,
      toIndex: expected - 1,
      commitIndex: this.commit,
      lastIndex: this.log.lastIndex,
    });
  }

  private onHeartbeat(message: HeartbeatMessage): void {
    if (!this.acceptLeader(message.from, message.ballot)) {
      return;
    }
    this.advanceFollowerCommit(message.commitIndex, message.ballot);
    this.sendStatus(message.from);
  }

  /**
   * A slot is known chosen when the leader of `ballot` says it committed it and this acceptor
   * holds the value that leader proposed, which is exactly an entry accepted at `ballot`.
   */
  private advanceFollowerCommit(leaderCommit: number, ballot: Ballot): void {
    while (this.commit < leaderCommit) {
      const entry = this.log.get(this.commit + 1);
      if (entry === undefined || entry.ballot !== ballot) {
        break;
      }
      this.commit += 1;
    }
  }

  private onLearn(message: LearnMessage): void {
    // Learned values are chosen, so they are safe to take from any sender. A leader ignores
    // them: it commits every open slot through its own quorum and never rewrites its slots.
    if (this.roleValue === "leader") {
      return;
    }
    for (const entry of message.entries) {
      if (entry.index <= this.commit) {
        continue;
      }
      if (entry.index !== this.commit + 1) {
        break;
      }
      this.writeSlot(entry);
      this.commit += 1;
    }
    this.statusToLeader(message.from, message.ballot);
  }

  /**
   * Takes one snapshot chunk. Chunks are reassembled in order; the snapshot is installed only when
   * complete and its checksum matches. Every chunk is acknowledged with the bytes held so far, so
   * the sender knows where to continue. Accepted slots above the snapshot are kept: they may be
   * part of a quorum's acceptance that a future phase 1 must see.
   */
  private onInstallSnapshot(message: InstallSnapshotMessage): void {
    if (this.roleValue === "leader") {
      return;
    }
    if (message.index <= this.commit) {
      // Everything the snapshot covers is known chosen here already: tell the sender it is done.
      if (this.incoming !== undefined && this.incoming.index <= this.commit) {
        this.incoming = undefined;
      }
      this.ackSnapshot(message, message.totalBytes);
      this.statusToLeader(message.from, message.ballot);
      return;
    }
    let assembly = this.incoming;
    if (assembly === undefined || !assembly.matches(message.from, message)) {
      if (assembly !== undefined && !this.mayReplaceAssembly(assembly, message)) {
        return;
      }
      assembly = new SnapshotAssembly(message.from, message);
      this.incoming = assembly;
    }
    const outcome = assembly.add(message);
    if (outcome === "corrupt") {
      this.counters.snapshotsCorrupt += 1;
      this.incoming = undefined;
      this.ackSnapshot(message, 0);
      return;
    }
    if (outcome !== "complete") {
      this.ackSnapshot(message, assembly.receivedBytes);
      return;
    }
    this.incoming = undefined;
    this.installSnapshot(assembly.snapshot());
    this.ackSnapshot(message, message.totalBytes);
    this.statusToLeader(message.from, message.ballot);
  }

  /**
   * Whether a chunk of another snapshot may replace the one being reassembled. The current
   * leader's transfer wins and is never interrupted by another sender (an acceptor answering an
   * old candidacy). Between other senders, progress is kept unless the new snapshot is newer or
   * comes from the same sender, so two acceptors serving one candidate cannot keep resetting
   * each other; the ignored sender gets no ack and, being ack-driven, stops.
   */
  private mayReplaceAssembly(assembly: SnapshotAssembly, chunk: InstallSnapshotMessage): boolean {
    if (chunk.from === this.leader) {
      return true;
    }
    if (assembly.from === this.leader) {
      return false;
    }
    return (
      chunk.from === assembly.from || chunk.index > assembly.index || assembly.receivedBytes === 0
    );
  }

  private installSnapshot(snapshot: Snapshot): void {
    if (this.roleValue !== "follower") {
      this.becomeFollower(undefined);
    }
    invariant(snapshot.index > this.applied, "snapshot must be ahead of the applied index");
    this.counters.snapshotsInstalled += 1;
    this.snapshotValue = snapshot;
    this.snapshotToInstall = snapshot;
    this.log.compactThrough(snapshot.index);
    for (const index of this.unsavedIndexes) {
      if (index <= snapshot.index) {
        this.unsavedIndexes.delete(index);
      }
    }
    this.commit = snapshot.index;
    this.applied = snapshot.index;
  }

  private ackSnapshot(chunk: InstallSnapshotMessage, offset: number): void {
    this.send({
      type: "snapshotAck",
      from: this.id,
      to: chunk.from,
      ballot: chunk.ballot,
      index: chunk.index,
      offset,
    });
  }

  /** Reports progress to `from` if it is the current leader (it owns `ballot`). */
  private statusToLeader(from: number, ballot: Ballot): void {
    if (ballot >= this.promised && ballotOwner(ballot) === from) {
      this.sendStatus(from);
    }
  }

  // ---------------------------------------------------------------- phase 2 (leader side)

  private tickLeader(): void {
    this.retransmitSnapshotChunks();
    this.heartbeatElapsedTicks += 1;
    if (this.heartbeatElapsedTicks >= this.options.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat();
      for (const [peer, progress] of this.progress) {
        // No progress since the last heartbeat means messages were lost: resend from the
        // last acknowledged slot, and let a stalled catch-up send its chunk again.
        if (progress.matchIndex === progress.matchAtLastHeartbeat) {
          progress.nextIndex = Math.max(this.startIndex, progress.matchIndex + 1);
        }
        if (progress.commitIndex === progress.commitAtLastHeartbeat) {
          progress.catchUpSentUntil = 0;
        }
        progress.matchAtLastHeartbeat = progress.matchIndex;
        progress.commitAtLastHeartbeat = progress.commitIndex;
        this.sendAccepts(peer);
      }
    }
    if (this.electionElapsedTicks >= this.options.electionTimeoutTicks) {
      // Check quorum: a leader that cannot reach a quorum steps down, so its clients learn
      // promptly that their proposals' fate is unknown instead of waiting forever.
      this.electionElapsedTicks = 0;
      let active = 1;
      for (const progress of this.progress.values()) {
        if (progress.active) {
          active += 1;
        }
        progress.active = false;
      }
      if (active < this.quorum) {
        this.becomeFollower(undefined);
      }
    }
  }

  private broadcastHeartbeat(): void {
    for (const peer of this.peers) {
      this.send({
        type: "heartbeat",
        from: this.id,
        to: peer,
        ballot: this.ownBallot,
        commitIndex: this.commit,
      });
    }
  }

  private windowHasRoom(): boolean {
    return this.log.lastIndex < this.commit + this.options.windowSlots;
  }

  private placePendingCommands(): void {
    if (this.roleValue !== "leader" || this.pending.length === 0) {
      return;
    }
    let placed = 0;
    while (placed < this.pending.length && this.windowHasRoom()) {
      const commands: Command[] = [];
      let bytes = 0;
      while (placed < this.pending.length && commands.length < this.options.maxBatchCommands) {
        const command = this.pending[placed];
        invariant(command !== undefined, "pending command missing");
        const size = commandBytes(command);
        if (commands.length > 0 && bytes + size > this.options.maxBatchBytes) {
          break;
        }
        commands.push(command);
        bytes += size;
        placed += 1;
      }
      this.writeSlot({
        index: this.log.lastIndex + 1,
        ballot: this.ownBallot,
        value: { kind: "batch", commands },
      });
    }
    this.pending = placed === this.pending.length ? [] : this.pending.slice(placed);
    this.maybeCommit();
    for (const peer of this.peers) {
      this.sendAccepts(peer);
    }
  }

  private sendAccepts(peer: number): void {
    const progress = this.progress.get(peer);
    if (progress === undefined || progress.needsCatchUp) {
      return;
    }
    if (progress.nextIndex <= this.log.compactedIndex) {
      // The follower needs slots this leader compacted away: only a snapshot can help.
      progress.needsCatchUp = true;
      this.catchUp(peer, progress, progress.commitIndex, -1);
      return;
    }
    const limit = Math.min(this.log.lastIndex, progress.matchIndex + this.options.windowSlots);
    while (progress.nextIndex <= limit) {
      const entries = this.boundedSlice(progress.nextIndex, limit);
      invariant(entries.length > 0, "an accept must carry at least one slot");
      this.send({
        type: "accept",
        from: this.id,
        to: peer,
        ballot: this.ownBallot,
        entries,
        commitIndex: this.commit,
      });
      progress.nextIndex += entries.length;
    }
  }

  private onAccepted(message: AcceptedMessage): void {
    const progress = this.leaderProgress(message.from, message.ballot);
    // Slots beyond this leader's log were never proposed at its ballot: a member that claims so
    // is broken, and counting it could commit slots the leader does not hold.
    if (progress === undefined || message.toIndex > this.log.lastIndex) {
      return;
    }
    if (message.fromIndex <= progress.matchIndex + 1 && message.toIndex > progress.matchIndex) {
      progress.matchIndex = message.toIndex;
      progress.nextIndex = Math.max(progress.nextIndex, progress.matchIndex + 1);
      this.maybeCommit();
    }
    this.catchUp(message.from, progress, message.commitIndex, message.lastIndex);
    this.sendAccepts(message.from);
  }

  private onAcceptGap(message: AcceptGapMessage): void {
    const progress = this.leaderProgress(message.from, message.ballot);
    if (progress === undefined) {
      return;
    }
    progress.nextIndex = Math.max(
      this.startIndex,
      Math.min(progress.matchIndex + 1, message.lastIndex + 1),
    );
    if (message.lastIndex + 1 < this.startIndex) {
      progress.needsCatchUp = true;
    }
    this.catchUp(message.from, progress, message.commitIndex, message.lastIndex);
    this.sendAccepts(message.from);
  }

  private onStatus(message: StatusMessage): void {
    const progress = this.leaderProgress(message.from, message.ballot);
    if (progress === undefined) {
      return;
    }
    this.catchUp(message.from, progress, message.commitIndex, message.lastIndex);
    this.sendAccepts(message.from);
  }

  private leaderProgress(from: number, ballot: Ballot): Progress | undefined {
    if (this.roleValue !== "leader" || ballot !== this.ownBallot) {
      return undefined;
    }
    const progress = this.progress.get(from);
    if (progress !== undefined) {
      progress.active = true;
    }
    return progress;
  }

  /**
   * Updates what the leader knows of a follower from a reply, and sends a lagging follower what
   * it is missing: chosen values (learn) or, when those were compacted away, a snapshot. Slots
   * the follower knows chosen count as matched (they are committed at the leader already). Learn
   * messages go one at a time: the next when the follower reports progress, or again after a
   * heartbeat without progress. A snapshot goes as one paced transfer (see `onSnapshotAck`).
   * `lastIndex` is -1 when unknown.
   */
  private catchUp(peer: number, progress: Progress, commitIndex: number, lastIndex: number): void {
    progress.commitIndex = Math.max(progress.commitIndex, commitIndex);
    const knownChosen = Math.min(progress.commitIndex, this.commit);
    if (knownChosen > progress.matchIndex) {
      progress.matchIndex = knownChosen;
      progress.nextIndex = Math.max(progress.nextIndex, knownChosen + 1);
    }
    if (progress.needsCatchUp) {
      const resumeAt = Math.max(this.startIndex, progress.matchIndex + 1);
      if (resumeAt <= lastIndex + 1 && resumeAt > this.log.compactedIndex) {
        progress.needsCatchUp = false;
        progress.nextIndex = resumeAt;
      }
    }
    const transfer = progress.snapshot;
    if (transfer !== undefined && progress.commitIndex >= transfer.snapshot.index) {
      progress.snapshot = undefined;
    }
    if (progress.commitIndex >= this.commit) {
      return;
    }
    const wanted = progress.commitIndex + 1;
    if (wanted <= this.log.compactedIndex) {
      // Only a snapshot can help. One transfer at a time, paced by the follower's acks (and
      // retransmitted on a timer), however many heartbeats and replies arrive meanwhile.
      if (progress.snapshot === undefined && this.snapshotValue !== undefined) {
        progress.snapshot = { snapshot: this.snapshotValue, ackedBytes: 0, idleTicks: 0 };
        this.sendSnapshotChunk(peer, this.ownBallot, this.snapshotValue, 0);
      }
      return;
    }
    const behindStart = progress.commitIndex < this.startIndex - 1;
    if ((!behindStart && !progress.needsCatchUp) || wanted < progress.catchUpSentUntil) {
      return;
    }
    const entries = this.boundedSlice(wanted, this.commit);
    if (entries.length === 0) {
      return;
    }
    this.send({ type: "learn", from: this.id, to: peer, ballot: this.ownBallot, entries });
    progress.catchUpSentUntil = wanted + entries.length;
  }

  /** Commits every slot a quorum accepted at this ballot (all slots from `startIndex` on are). */
  private maybeCommit(): void {
    const matches = [this.log.lastIndex];
    for (const progress of this.progress.values()) {
      matches.push(progress.matchIndex);
    }
    matches.sort((a, b) => b - a);
    const quorumMatch = matches[this.quorum - 1];
    invariant(quorumMatch !== undefined, "quorum larger than the cluster");
    if (quorumMatch > this.commit) {
      invariant(quorumMatch >= this.startIndex, "leader commits only its own ballot's slots");
      this.commit = quorumMatch;
    }
  }

  // ---------------------------------------------------------------- helpers

  private writeSlot(entry: Entry): void {
    this.log.put(entry);
    this.unsavedIndexes.add(entry.index);
  }

  private boundedSlice(fromIndex: number, toIndex: number): Entry[] {
    const entries = this.log.slice(fromIndex, toIndex, this.options.maxEntriesPerMessage);
    let bytes = 0;
    for (let count = 0; count < entries.length; count += 1) {
      const entry = entries[count];
      invariant(entry !== undefined, "slice returned a hole");
      bytes += slotValueBytes(entry.value);
      if (count > 0 && bytes > this.options.maxMessageBytes) {
        return entries.slice(0, count);
      }
    }
    return entries;
  }

  /** Sends the chunk of `snapshot` at `offset` to `peer`. */
  private sendSnapshotChunk(
    peer: number,
    ballot: Ballot,
    snapshot: Snapshot,
    offset: number,
  ): void {
    const chunk = snapshotChunk(snapshot, offset, this.options.snapshotChunkBytes);
    this.send({ type: "installSnapshot", from: this.id, to: peer, ballot, ...chunk });
    this.counters.snapshotChunksSent += 1;
  }

  /** Resends the unacknowledged chunk of every transfer that has been idle too long. */
  private retransmitSnapshotChunks(): void {
    for (const [peer, progress] of this.progress) {
      const transfer = progress.snapshot;
      if (transfer === undefined) {
        continue;
      }
      transfer.idleTicks += 1;
      if (transfer.idleTicks >= this.options.snapshotRetransmitTicks) {
        transfer.idleTicks = 0;
        this.counters.snapshotChunksRetransmitted += 1;
        this.sendSnapshotChunk(peer, this.ownBallot, transfer.snapshot, transfer.ackedBytes);
      }
    }
  }

  /**
   * A snapshot receiver holds `offset` bytes. The leader sends the next chunk when the follower
   * moved forward (and ends the transfer when it has everything). A replica that does not lead
   * serves a lagging candidate one chunk per new ack, while it still holds that snapshot and the
   * ack echoes the ballot it promised.
   */
  private onSnapshotAck(message: SnapshotAckMessage): void {
    if (this.roleValue === "leader") {
      const progress = this.leaderProgress(message.from, message.ballot);
      const transfer = progress?.snapshot;
      if (progress === undefined || transfer === undefined) {
        return;
      }
      const total = transfer.snapshot.data.byteLength;
      if (transfer.snapshot.index !== message.index || message.offset > total) {
        return;
      }
      if (message.offset === total) {
        progress.snapshot = undefined;
        this.catchUp(message.from, progress, transfer.snapshot.index, -1);
        this.sendAccepts(message.from);
        return;
      }
      if (message.offset > transfer.ackedBytes) {
        transfer.ackedBytes = message.offset;
        transfer.idleTicks = 0;
        this.sendSnapshotChunk(message.from, this.ownBallot, transfer.snapshot, message.offset);
      } else if (message.offset < transfer.ackedBytes) {
        // The follower lost what it had (it restarted): the retransmit timer resends from here.
        transfer.ackedBytes = message.offset;
      }
      return;
    }
    const snapshot = this.snapshotValue;
    const served = this.servedChunks.get(message.from);
    if (
      snapshot === undefined ||
      served === undefined ||
      served.index !== snapshot.index ||
      snapshot.index !== message.index ||
      message.ballot !== this.promised
    ) {
      return;
    }
    if (message.offset >= snapshot.data.byteLength) {
      this.servedChunks.delete(message.from);
      return;
    }
    // A duplicated ack asks for the chunk just sent: answering it would start a second stream.
    // A lost chunk stalls the candidate until it campaigns again; that prepare restarts here.
    if (message.offset === served.offset) {
      return;
    }
    this.sendSnapshotChunk(message.from, this.promised, snapshot, message.offset);
    served.offset = message.offset;
  }

  private sendStatus(peer: number): void {
    this.send({
      type: "status",
      from: this.id,
      to: peer,
      ballot: this.promised,
      commitIndex: this.commit,
      lastIndex: this.log.lastIndex,
    });
  }

  private nack(peer: number): void {
    this.send({ type: "nack", from: this.id, to: peer, ballot: this.promised });
  }

  private send(message: Message): void {
    this.outbox.push(message);
  }

  private hardStateChanged(): boolean {
    return (
      this.persistedHardState.promisedBallot !== this.promised ||
      this.persistedHardState.commitIndex !== this.commit
    );
  }

  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    this.randomizedElectionTimeoutTicks = this.randomElectionTimeout();
  }

  private randomElectionTimeout(): number {
    const base = this.options.electionTimeoutTicks;
    return base + this.rng.nextInt(base);
  }

  /** The configuration this replica runs with (for drivers mapping ids to node names). */
  clusterConfig(): ClusterConfig {
    return this.config;
  }
}
