import { connect, type Socket } from "node:net";
import type { ClusterConfig } from "../../../host/consensus/core/config.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import type { PeerAddress } from "../../../host/consensus/transport/tcp/connector.js";
import { FrameReader } from "../../../host/consensus/transport/tcp/frame-reader.js";
import {
  TcpTransport,
  type TcpTransportOptions,
  type TransportLogger,
} from "../../../host/consensus/transport/tcp/tcp-transport.js";
import { clusterTag } from "../../../host/consensus/wire/cluster-tag.js";
import {
  type ControlFrame,
  decodeControl,
  encodeControl,
} from "../../../host/consensus/wire/control.js";
import { DEFAULT_WIRE_LIMITS } from "../../../host/consensus/wire/limits.js";
import { encodeMessage } from "../../../host/consensus/wire/message-codec.js";
import { WireWriter } from "../../../host/consensus/wire/writer.js";

export const CLUSTER_ID = "test-cluster";
export const TAG = clusterTag(CLUSTER_ID);

/** Members n1..n3 with replica ids 1..3. */
export const CONFIG: ClusterConfig = {
  members: [1, 2, 3].map((replicaId) => ({ nodeId: `n${replicaId}`, replicaId })),
};

/** A logger that keeps every entry, so tests can wait for a refusal's reason. */
export class MemoryLogger implements TransportLogger {
  readonly entries: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  debug(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: "debug", fields, message });
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: "info", fields, message });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: "warn", fields, message });
  }
  codes(): unknown[] {
    return this.entries.filter((e) => e.fields.code !== undefined).map((e) => e.fields.code);
  }
}

/** A TCP endpoint on 127.0.0.1 port 0 with fast reconnects, and what it received. */
export interface Node {
  readonly replicaId: number;
  readonly transport: TcpTransport;
  readonly received: Message[];
  readonly logger: MemoryLogger;
  readonly address: PeerAddress;
}

export async function startNode(
  replicaId: number,
  overrides: Partial<TcpTransportOptions> = {},
): Promise<Node> {
  const logger = new MemoryLogger();
  const transport = new TcpTransport({
    clusterId: CLUSTER_ID,
    replicaId,
    config: CONFIG,
    listen: { host: "127.0.0.1", port: 0 },
    rng: seededRng(replicaId),
    reconnectInitialMs: 5,
    reconnectMaxMs: 50,
    // Keepalive pings would add frames to the counters the tests compare; the test of the idle
    // check sets its own interval.
    keepaliveIntervalMs: 3_600_000,
    logger,
    ...overrides,
  });
  const received: Message[] = [];
  transport.onMessage((message) => received.push(message));
  const address = await transport.start();
  return { replicaId, transport, received, logger, address };
}

/** Tells every node where every other node listens. */
export function introduce(nodes: readonly Node[]): void {
  for (const node of nodes) {
    for (const peer of nodes) {
      if (peer !== node) {
        node.transport.setPeerAddress(peer.replicaId, peer.address);
      }
    }
  }
}

/** A raw socket speaking the wire format by hand, to play a misbehaving peer. */
export class RawPeer {
  readonly socket: Socket;
  readonly controls: ControlFrame[] = [];
  closed = false;
  private readonly reader = new FrameReader(1 << 20);

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk) => {
      this.reader.push(chunk, (frame) => {
        try {
          this.controls.push(decodeControl(frame, DEFAULT_WIRE_LIMITS));
        } catch {
          // A message frame: the tests here only look at control frames.
        }
        return true;
      });
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static connect(address: PeerAddress): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect(address.port, address.host);
      socket.once("error", reject);
      socket.once("connect", () => resolve(new RawPeer(socket)));
    });
  }

  sendControl(frame: ControlFrame, tag = TAG): void {
    const writer = new WireWriter(64);
    encodeControl(writer, frame, tag);
    this.socket.write(Uint8Array.from(writer.bytes()));
  }

  sendMessage(message: Message): void {
    const writer = new WireWriter(64);
    encodeMessage(writer, message, TAG, DEFAULT_WIRE_LIMITS);
    this.socket.write(Uint8Array.from(writer.bytes()));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}
