/**
 * Wire benchmark: encode and decode throughput of the binary codec for a heartbeat and an accept
 * carrying a 64-command batch of 64-byte payloads, then three MultiPaxosEngines in this one
 * process talking over TcpTransport on 127.0.0.1 (memory storage, so the transport and codec
 * dominate): commits/s and p50/p99 with 64 clients in a closed loop. Run with
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
import { TcpTransport } from "../host/consensus/transport/tcp/tcp-transport.js";
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

/** Runs `body` in rounds until `minMs` elapsed; returns operations per second. */
function rate(operationsPerRound: number, minMs: number, body: () => void): number {
  for (let i = 0; i < 200; i += 1) {
    body(); // warm-up
  }
  let operations = 0;
  const begin = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    body();
    operations += operationsPerRound;
    elapsed = performance.now() - begin;
  }
  return (operations / elapsed) * 1000;
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
    `${name.padEnd(34)} ${String(frameBytes).padStart(6)} B/frame` +
      `  encode ${Math.round(encodes).toLocaleString("en")}/s (${mb(encodes)} MB/s)` +
      `  decode ${Math.round(decodes).toLocaleString("en")}/s (${mb(decodes)} MB/s)`,
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

async function tcpCluster(commits: number, concurrency: number): Promise<void> {
  const config = {
    members: [1, 2, 3].map((replicaId) => ({ nodeId: `n${replicaId}`, replicaId })),
  };
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
  const engines = config.members.map(
    (member, i) =>
      new MultiPaxosEngine({
        nodeId: member.nodeId,
        config,
        storage: new MemoryStorage(),
        transport: transports[i] as TcpTransport,
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
  const stats = transports[leaderIndex]?.stats().peers[follower];
  console.log(
    `3 engines over TCP (1 process), ${concurrency} clients: ` +
      `${Math.round((commits / elapsedMs) * 1000).toLocaleString("en")} commits/s, ` +
      `p50 ${p(0.5)} ms, p99 ${p(0.99)} ms; ` +
      `leader -> replica ${follower}: ${stats?.framesSent} frames, ${stats?.bytesSent} bytes`,
  );
  for (const engine of engines) {
    await engine.stop();
  }
}

export async function runWireBench(): Promise<void> {
  console.log("(throughput on a shared 2-core machine; compare numbers within one run)");
  codecCase("heartbeat", { type: "heartbeat", from: 1, to: 2, ballot: 2049, commitIndex: 9 });
  codecCase("accept, 64 commands x 64 B", batchAccept());
  await tcpCluster(50_000, 64);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await runWireBench();
}
