import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  type ChannelCredentials,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { certsInit } from "../../host/cli/certs.js";
import { addToken } from "../../host/cli/tokens.js";
import {
  ClusterClient,
  type StatusResponse,
} from "../../host/proto/generated/cluster/v1/cluster.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist/host/cli/main.js");

/** Runs the built `cartridge` CLI to completion; rejects on a non-zero exit. */
export function runCli(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      error === null
        ? resolve({ stdout, stderr })
        : reject(new Error(`${error.message}\n${stderr}`)),
    );
  });
}

/** Every child of every harness in this process, killed on exit even when a test failed. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Ports the OS says are free now (listening on port 0, then closing). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** A condition awaited by polling; the test's own timeout bounds it. */
export async function until<T>(check: () => Promise<T | undefined>, intervalMs = 50): Promise<T> {
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function unary<Req, Res>(
  call: (
    request: Req,
    metadata: Metadata,
    options: { deadline: number },
    callback: (error: ServiceError | null, response: Res) => void,
  ) => unknown,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
      error === null ? resolve(response) : reject(error),
    );
  });
}

/** One node process of a 3-node cluster over TCP with its WAL in a temp dir. */
export class TestNode {
  child: ChildProcess | undefined;
  readonly client: ClusterClient;
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly configFile: string,
    readonly grpcAddress: string,
    channel: ChannelCredentials = credentials.createInsecure(),
    /** More `cartridge serve` flags, beside `--config` (e.g. `--cartridges DIR`). */
    readonly serveArgs: readonly string[] = [],
  ) {
    this.client = new ClusterClient(grpcAddress, channel);
  }

  /** Starts the process and resolves once it listens. */
  async start(): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
    const child = spawn(
      process.execPath,
      [CLI, "serve", "--config", this.configFile, "--log-level", "warn", ...this.serveArgs],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    children.add(child);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.exited.then(() => children.delete(child));
    const stderr: string[] = [];
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code, signal) =>
        reject(new Error(`node ${this.id} exited (${code ?? signal}): ${stderr.join("\n")}`)),
      );
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
        stderr.push(line);
        if (line.includes("health and reflection")) resolve();
      });
    });
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async kill(): Promise<void> {
    if (
      this.child !== undefined &&
      this.child.exitCode === null &&
      this.child.signalCode === null
    ) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }

  status(timeoutMs = 2000): Promise<StatusResponse> {
    return unary(this.client.status.bind(this.client), {}, timeoutMs);
  }
}

/** Options of a test cluster; plaintext and open without any. */
export interface TestClusterOptions {
  /** The nodes talk mutual TLS to each other ([consensus.tls]). */
  readonly mutualTls?: boolean;
  /**
   * The gRPC port serves TLS, requires client certificates from the test CA and a tokens file:
   * the harness's own clients present the certificate of client "admin" and an admin token.
   */
  readonly secureGrpc?: boolean;
  /** More `cartridge serve` flags for every node (e.g. `--cartridges DIR`). */
  readonly serveArgs?: readonly string[];
  /** More `[consensus]` settings, one `key = value` line each. */
  readonly consensus?: readonly string[];
}

/** What a test needs to make its own clients of a `secureGrpc` cluster. */
export interface TestCredentials {
  /** PEM of the CA, and of client "admin"'s certificate and key. */
  readonly ca: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  /** A token with the read and admin roles. */
  readonly adminToken: string;
}

/** Channel credentials of a `secureGrpc` cluster's client, with `token` on every call if given. */
export function secureChannel(creds: TestCredentials, token?: string): ChannelCredentials {
  const tls = credentials.createSsl(creds.ca, creds.clientKey, creds.clientCert);
  if (token === undefined) return tls;
  return credentials.combineChannelCredentials(
    tls,
    credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      callback(null, metadata);
    }),
  );
}

/** Three nodes, their configs in a temp dir. */
export class TestCluster {
  readonly nodes: TestNode[];
  /** Every KV client made for this cluster; `destroy` stops them so none retries forever. */
  readonly clients = new Set<KvClient>();

  private constructor(
    readonly dir: string,
    nodes: TestNode[],
    /** Set for a `secureGrpc` cluster. */
    readonly credentials: TestCredentials | undefined,
  ) {
    this.nodes = nodes;
  }

  /** Certificates (for either kind of TLS) come from `cartridge certs init`. */
  static async create(options: TestClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), "cartridge-e2e-"));
    const ports = await freePorts(6);
    const ids = ["1", "2", "3"];
    let creds: TestCredentials | undefined;
    const serveArgs: string[] = [...(options.serveArgs ?? [])];
    if (options.mutualTls === true || options.secureGrpc === true) {
      const certs = await certsInit({
        dir: join(dir, "certs"),
        nodes: ids,
        clients: ["admin"],
        days: 1,
      });
      const admin = certs.clients.get("admin") as { cert: string; key: string };
      if (options.secureGrpc === true) {
        const tokens = join(dir, "tokens.toml");
        const adminToken = await addToken(tokens, "admin", ["read", "admin"]);
        await appendFile(
          tokens,
          '\n[[certificate]]\ncommon_name = "admin"\nroles = ["read", "admin"]\n',
        );
        serveArgs.push("--tokens", tokens);
        creds = {
          ca: await readFile(certs.ca.cert),
          clientCert: await readFile(admin.cert),
          clientKey: await readFile(admin.key),
          adminToken,
        };
      }
    }
    const endpoints = ids
      .map(
        (id, i) =>
          `"${id}" = { host = "127.0.0.1", consensus_port = ${ports[i]}, grpc_port = ${ports[i + 3]} }`,
      )
      .join("\n");
    const nodes: TestNode[] = [];
    for (const [i, id] of ids.entries()) {
      const file = join(dir, `node-${id}.toml`);
      await writeFile(
        file,
        [
          "[consensus]",
          'engine = "paxos"',
          `replica_id = "${id}"`,
          'cluster_id = "e2e"',
          `storage = { type = "wal", wal_path = "./data/node-${id}" }`,
          `transport = { type = "tcp", bind = "127.0.0.1:${ports[i]}" }`,
          ...(options.consensus ?? []),
          options.mutualTls === true
            ? `tls = { ca = "certs/ca.crt", cert = "certs/node-${id}.crt", key = "certs/node-${id}.key" }`
            : "",
          options.secureGrpc === true
            ? `[tls]\ncert = "certs/node-${id}.crt"\nkey = "certs/node-${id}.key"\nclient_ca = "certs/ca.crt"`
            : "",
          "[consensus.cluster]",
          'members = ["1", "2", "3"]',
          "[consensus.cluster.endpoints]",
          endpoints,
          "",
        ].join("\n"),
      );
      const channel =
        creds === undefined ? credentials.createInsecure() : secureChannel(creds, creds.adminToken);
      nodes.push(new TestNode(id, file, `127.0.0.1:${ports[i + 3]}`, channel, serveArgs));
    }
    return new TestCluster(dir, nodes, creds);
  }

  node(id: string): TestNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.start()));
  }

  /** Waits until every running node in `among` follows one leader in a working quorum. */
  async leader(among: readonly TestNode[] = this.nodes): Promise<TestNode> {
    const id = await until(async () => {
      const views = await Promise.all(among.map((node) => node.status(1000)));
      const leaderId = views[0]?.leaderId;
      if (leaderId === undefined || leaderId === "") return undefined;
      // The leader must be one of `among`: right after a leader dies, its followers still name
      // it (and count themselves in quorum) until an election timeout passes.
      const agreed =
        among.some((node) => node.id === leaderId) &&
        views.every((v) => v.leaderId === leaderId && v.inQuorum);
      return agreed ? leaderId : undefined;
    });
    return this.node(id);
  }

  /** Waits until every node in `among` applied at least `index`; returns their applied indexes. */
  async appliedAtLeast(index: number, among: readonly TestNode[] = this.nodes): Promise<number[]> {
    return until(async () => {
      const views = await Promise.all(among.map((node) => node.status(1000)));
      const applied = views.map((v) => Number(v.appliedIndex));
      return applied.every((a) => a >= index) ? applied : undefined;
    });
  }

  async destroy(): Promise<void> {
    for (const client of this.clients) client.stop();
    await Promise.all(this.nodes.map((node) => node.kill()));
    for (const node of this.nodes) node.client.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A KV client that retries like a real one: the same client and request id on every attempt, at
 * the leader named in a refusal or the next node, until the cluster answers definitely.
 */
export class KvClient {
  private requestId = 0;
  private target = 0;
  /** Attempts that failed and were retried, by gRPC status name (the bench reports them). */
  readonly retries = new Map<string, number>();

  constructor(
    private readonly cluster: TestCluster,
    readonly clientId: string,
  ) {
    cluster.clients.add(this);
  }

  private stopped = false;

  /** Makes every call in flight or to come fail instead of retrying (tests clean up with it). */
  stop(): void {
    this.stopped = true;
  }

  /** Sends the next attempts to `cluster.nodes[index]` first (the bench aims at the leader). */
  preferNode(index: number): void {
    this.target = index;
  }

  async put(key: string, value: string): Promise<{ version: bigint; index: bigint }> {
    this.requestId += 1;
    const request = {
      clientId: this.clientId,
      requestId: BigInt(this.requestId),
      key,
      value: Buffer.from(value),
    };
    return this.retry((client) => unary(client.put.bind(client), request, 3000));
  }

  async get(key: string): Promise<{ found: boolean; value: string; index: bigint }> {
    this.requestId += 1;
    const request = { clientId: this.clientId, requestId: BigInt(this.requestId), key };
    const response = await this.retry((client) => unary(client.get.bind(client), request, 3000));
    return { found: response.found, value: response.value.toString(), index: response.index };
  }

  private async retry<T>(attempt: (client: ClusterClient) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.stopped) throw new Error(`client ${this.clientId} stopped`);
      const node = this.cluster.nodes[this.target % this.cluster.nodes.length] as TestNode;
      try {
        return await attempt(node.client);
      } catch (error) {
        const serviceError = error as ServiceError;
        const retryable = [
          status.UNAVAILABLE,
          status.DEADLINE_EXCEEDED,
          status.CANCELLED,
          status.RESOURCE_EXHAUSTED,
        ];
        if (!retryable.includes(serviceError.code)) throw error;
        const name = status[serviceError.code] ?? String(serviceError.code);
        this.retries.set(name, (this.retries.get(name) ?? 0) + 1);
        const hint = serviceError.metadata?.get("cartridge-leader-id")[0];
        const hinted = this.cluster.nodes.findIndex((n) => n.id === hint);
        this.target = hinted >= 0 && hinted !== this.target ? hinted : this.target + 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}
