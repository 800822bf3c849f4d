import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Message } from "../../../host/consensus/core/messages.js";
import { ClusterMetrics } from "../../../host/server/cluster-metrics.js";
import { ManualCluster } from "../consensus/helpers.js";

describe("cluster metrics: the engine's counters", () => {
  it("exports the core's refused messages by reason as Prometheus counters", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const engine = cluster.engines[0];
    if (engine === undefined) throw new Error("no engine");
    const registry = new Registry();
    new ClusterMetrics(registry, {
      ballot: () => engine.currentTerm(),
      commitIndex: () => 0,
      appliedIndex: () => engine.lastAppliedIndex(),
      inQuorum: () => false,
      peers: () => [],
      engineStats: () => engine.stats(),
    });
    const before = await registry.getSingleMetricAsString(
      "cartridge_consensus_rejected_messages_total",
    );
    expect(before).toContain('cartridge_consensus_rejected_messages_total{reason="notMember"} 0');

    // A heartbeat from a replica outside the configuration, and one addressed to another replica.
    const fromStranger: Message = {
      type: "heartbeat",
      from: 9,
      to: 1,
      ballot: 1033,
      commitIndex: 0,
    };
    const misaddressed: Message = {
      type: "heartbeat",
      from: 2,
      to: 3,
      ballot: 1026,
      commitIndex: 0,
    };
    engine.receive(fromStranger);
    engine.receive(fromStranger);
    engine.receive(misaddressed);
    expect(engine.stats().core.rejectedMessages.notMember).toBe(2);

    const after = await registry.getSingleMetricAsString(
      "cartridge_consensus_rejected_messages_total",
    );
    expect(after).toContain('cartridge_consensus_rejected_messages_total{reason="notMember"} 2');
    expect(after).toContain('cartridge_consensus_rejected_messages_total{reason="misaddressed"} 1');
    const installed = await registry.getSingleMetricAsString(
      "cartridge_consensus_snapshots_installed_total",
    );
    expect(installed).toContain("cartridge_consensus_snapshots_installed_total 0");
    await Promise.all(cluster.engines.map((e) => e.stop()));
  });
});
