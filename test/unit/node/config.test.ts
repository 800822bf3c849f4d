import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  embeddedNodeConfig,
  loadNodeConfig,
  resolveNodeConfig,
} from "../../../host/node/config.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/cluster/", import.meta.url));

const base = `
[consensus]
engine = "paxos"
replica_id = "2"
storage = { type = "wal", wal_path = "./data/node-2" }
transport = { type = "tcp", bind = "127.0.0.1:7002" }

[consensus.cluster]
members = ["1", "2", "3"]

[consensus.cluster.endpoints]
"1" = { host = "127.0.0.1", consensus_port = 7001, grpc_port = 50051 }
"2" = { host = "127.0.0.1", consensus_port = 7002, grpc_port = 50052 }
"3" = { host = "127.0.0.1", consensus_port = 7003, grpc_port = 50053 }
`;

function problems(toml: string): string {
  try {
    resolveNodeConfig(parse(toml), "/cfg", "node.toml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected the config to be refused");
}

describe("node config", () => {
  it("reads the example configs, with defaults and paths relative to the file", async () => {
    const config = await loadNodeConfig(join(EXAMPLES, "node-1.toml"));
    expect(config).toMatchObject({
      engine: "paxos",
      nodeId: "1",
      members: ["1", "2", "3"],
      storage: { type: "wal", walPath: join(EXAMPLES, "data/node-1") },
      transport: { type: "tcp", bind: "127.0.0.1:7001" },
      tickIntervalMs: 10,
    });
    expect(config.endpoints.get("3")).toEqual({
      host: "127.0.0.1",
      consensusPort: 7003,
      grpcPort: 50053,
    });
  });

  it("names the key and what is wrong", () => {
    expect(problems(base.replace('engine = "paxos"', 'engine = "raft"'))).toMatch(
      /consensus\.engine: .*"paxos"/,
    );
    expect(problems(base.replace('wal_path = "./data/node-2"', "wal_path = 3"))).toMatch(
      /consensus\.storage\.wal_path: /,
    );
    expect(problems(base.replace("grpc_port = 50053", "grpc_port = 70000"))).toMatch(
      /consensus\.cluster\.endpoints\.3\.grpc_port: /,
    );
    expect(problems(`${base}\n[consensus.extra]\nx = 1\n`)).toMatch(/consensus: .*extra/);
    expect(problems(base.replace('replica_id = "2"', 'replica_id = "4"'))).toContain(
      'consensus.replica_id: "4" is not in consensus.cluster.members',
    );
    expect(problems(base.replace("127.0.0.1:7002", "127.0.0.1:7009"))).toContain(
      "consensus.transport.bind: port 7009 differs from this node's consensus_port 7002",
    );
    expect(problems(base.replace(/"3" = .*\n/, ""))).toContain('no endpoint for member "3"');
    expect(
      problems(
        base.replace(
          'transport = { type = "tcp", bind = "127.0.0.1:7002" }',
          'transport = { type = "memory" }',
        ),
      ),
    ).toContain('needs type = "tcp"');
  });

  it("runs the single-node engine in memory without a config", () => {
    expect(embeddedNodeConfig()).toMatchObject({
      engine: "single",
      nodeId: "1",
      storage: { type: "memory" },
      members: ["1"],
    });
  });

  it("keeps the embedded node's state in a WAL under --data-dir", () => {
    const config = embeddedNodeConfig({ dataDir: "some/data" });
    expect(config).toMatchObject({ engine: "single", members: ["1"] });
    expect(config.storage).toEqual({ type: "wal", walPath: resolve("some/data") });
  });
});
