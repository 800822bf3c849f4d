/**
 * Wire benchmark: encode and decode throughput of the binary codec for a heartbeat and an accept
 * carrying a 64-command batch of 64-byte payloads, then three MultiPaxosEngines in this one
 * process talking over TcpTransport on 127.0.0.1 (memory storage, so the transport and codec
 * dominate), against the same over MemoryNetwork: commits/s and p50/p90/p99 with 64 clients in
 * a closed loop. Run with
 * `npx tsx bench/wire.bench.ts` or `npm run bench -- wire`.
 */
import { pathToFileURL } from "node:url";
import type { Command, Entry } from "../host/consensus/core/entry.js";
import type { Message } from "../host/consensus/core/messages.js";
import { MultiPaxosEngine } from "../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../host/consensus/engine/rng.js";
import { IntervalTickSource } from "../host/consensus/engine/tick-source.js";
import type { StateMachine } from "../host/consensus/statemachine.js";
import { MemoryStorage } from "../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../host/consensus/transport/memory.js";
import { TcpTransport } from "../host/consensus/transport/tcp/tcp-transport.js";
import type { Transport } from "../host/consensus/transport/transport.js";
import { clusterTag } from "../host/consensus/wire/cluster-tag.js";
import { DEFAULT_WIRE_LIMITS } from "../host/consensus/wire/limits.js";
import { decodeMessage, encodeMessage } from "../host/consensus/wire/message-codec.js";
import { WireWriter } from "../host/consensus/wire/writer.js";

const TAG = clusterTag("bench");

function batchAccept(): Message {
  const commands: Command[] = Array.from({ length: 64 }, (_, i) => ({
    clientId: `client-${i}`,
    requestId: 1_000_000 + i,
    payload: new Uint8Array(64).fill(i),
  }));
  const entries: Entry[] = [{ index: 12345, ballot: 2049, value: { kind: "batch", commands } }];
  return { type: "accept", from: 1, to: 2, ballot: 2049, commitIndex: 12340, entries };
}

/**
 * Runs `body` in rounds until `minMs` of this process's CPU time elapsed; returns operations per
 * CPU-second. CPU time rather than wall time, because the machine is shared: wall time would
 * measure how often the scheduler let this process run.
 */
function rate(operationsPerRound: number, minMs: number, body: () => void): number {
  for (let i = 0; i < 200; i += 1) {
    body(); // warm-up
  }
  let operations = 0;
  const begin = process.cpuUsage();
  let elapsedMs = 0;
  while (elapsedMs < minMs) {
    body();
    operations += operationsPerRound;
    const used = process.cpuUsage(begin);
    elapsedMs = (used.user + used.system) / 1000;
  }
  return (operations / elapsedMs) * 1000;
}

function codecCase(name: string, message: Message): void {
  const writer = new WireWriter();
  const frameBytes = encodeMessage(writer, message, TAG, DEFAULT_WIRE_LIMITS);
  const frame = Uint8Array.from(writer.bytes());
  const encodes = rate(1000, 1000, () => {
    for (let i = 0; i < 1000; i += 1) {
      writer.reset();
      encodeMessage(writer, message, TAG, DEFAULT_WIRE_LIMITS);
    }
  });
  const decodes = rate(1000, 1000, () => {
    for (let i = 0; i < 1000; i += 1) {
      decodeMessage(frame, TAG, DEFAULT_WIRE_LIMITS);
    }
  });
  const mb = (perSecond: number) => ((perSecond * frameBytes) / 1e6).toFixed(0);
  console.log(
    `${name.padEnd(28)} ${String(frameBytes).padStart(5)} B/frame` +
      `  encode ${Math.round(encodes).toLocaleString("en")}/CPU-s (${mb(encodes)} MB)` +
      `  decode ${Math.round(decodes).toLocaleString("en")}/CPU-s (${mb(decodes)} MB)`,
  );
}

class Counter implements StateMachine {
  private total = 0;
  apply(command: Uint8Array): Uint8Array {
    this.total += command.byteLength;
    return RESULT;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.total));
  }
  restore(snapshot: Uint8Array): void {
    this.total = Number(new TextDecoder().decode(snapshot));
  }
}
const RESULT = new Uint8Array([1]);

const config = {
  members: [1, 2, 3].map((replicaId) => ({ nodeId: `n${replicaId}`, replicaId })),
};

async function tcpTransports(): Promise<TcpTransport[]> {
  const transports = config.members.map(
    (member) =>
      new TcpTransport({
        clusterId: "bench",
        replicaId: member.replicaId,
        config,
        listen: { host: "127.0.0.1", port: 0 },
        rng: seededRng(member.replicaId),
      }),
  );
  const addresses = await Promise.all(transports.map((transport) => transport.start()));
  transports.forEach((transport, i) => {
    addresses.forEach((address, j) => {
      if (i !== j) {
        transport.setPeerAddress(j + 1, address);
      }
    });
  });
  return transports;
}

async function cluster(
  name: string,
  transports: readonly Transport[],
  commits: number,
  concurrency: number,
): Promise<void> {
  const engines = config.members.map(
    (member, i) =>
      new MultiPaxosEngine({
        nodeId: member.nodeId,
        config,
        storage: new MemoryStorage(),
        transport: transports[i] as Transport,
        stateMachine: new Counter(),
        rng: seededRng(member.replicaId),
        tickSource: new IntervalTickSource(10),
        snapshotIntervalSlots: 20_000,
        retainSlots: 2_000,
      }),
  );
  for (const engine of engines) {
    await engine.start();
  }
  let leader: MultiPaxosEngine | undefined;
  while (leader === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    leader = engines.find((engine) => engine.isLeader());
  }
  const payload = new Uint8Array(64);
  const latencies: number[] = [];
  let sequence = 0;
  const loop = (count: number, record: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      let issued = 0;
      let done = 0;
      const issue = (): void => {
        if (issued >= count) {
          return;
        }
        issued += 1;
        sequence += 1;
        const begin = performance.now();
        (leader as MultiPaxosEngine)
          .propose(payload, { clientId: `c${sequence % concurrency}`, requestId: sequence })
          .then(() => {
            if (record) {
              latencies.push(performance.now() - begin);
            }
            done += 1;
            if (done === count) {
              resolve();
            } else {
              issue();
            }
          }, reject);
      };
      for (let i = 0; i < concurrency; i += 1) {
        issue();
      }
    });
  await loop(Math.floor(commits / 5), false);
  const begin = performance.now();
  await loop(commits, true);
  const elapsedMs = performance.now() - begin;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => (latencies[Math.floor(latencies.length * q)] ?? 0).toFixed(2);
  const leaderIndex = engines.indexOf(leader);
  const follower = leaderIndex === 0 ? 2 : 1;
  const sender = transports[leaderIndex];
  const stats = sender instanceof TcpTransport ? sender.stats().peers[follower] : undefined;
  console.log(
    `${name}, ${concurrency} clients: ` +
      `${Math.round((commits / elapsedMs) * 1000).toLocaleString("en")} commits/s, ` +
      `p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms` +
      (stats ? `; leader -> ${follower}: ${stats.framesSent} frames, ${stats.bytesSent} B` : ""),
  );
  for (const engine of engines) {
    await engine.stop();
  }
}

export async function runWireBench(): Promise<void> {
  console.log("(codec: per CPU-second of this process; clusters: wall clock, on a shared machine)");
  codecCase("heartbeat", { type: "heartbeat", from: 1, to: 2, ballot: 2049, commitIndex: 9 });
  codecCase("accept, 64 commands x 64 B", batchAccept());
  const network = new MemoryNetwork("immediate");
  const memory = config.members.map((member) => network.endpoint(member.replicaId));
  await cluster("3 engines over MemoryNetwork (1 process)", memory, 50_000, 64);
  await cluster("3 engines over TCP (1 process)", await tcpTransports(), 50_000, 64);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await runWireBench();
}
