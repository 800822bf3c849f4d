import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  type Client,
  credentials,
  Metadata,
  makeClientConstructor,
  type ServiceError,
} from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import {
  type ListBuildsResponse,
  ManifestClient,
} from "../../host/proto/generated/manifest/v1/manifest.js";
import {
  type ExportSessionResponse,
  type GetSessionResponse,
  SessionsClient,
} from "../../host/proto/generated/sessions/v1/sessions.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A bundled cartridge built by `npm run build` (build/cartridges). */
export function bundledCartridge(envId: string): string {
  const path = join(ROOT, "build/cartridges", `${envId}.wasm`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
  return path;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: Callback<Res>,
) => unknown;

/** One unary call with a deadline. */
export function call<Req, Res>(method: Unary<Req, Res>, request: Req, timeoutMs: number) {
  return new Promise<Res>((resolve, reject) => {
    method(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
      error === null ? resolve(response) : reject(error),
    );
  });
}

/** Raw reads of one node (no failover: the test asks each node for its own applied state). */
export class NodeClients {
  readonly sessions: SessionsClient;
  readonly manifest: ManifestClient;
  private readonly health: Client & {
    check(
      request: { service: string },
      metadata: Metadata,
      options: { deadline: number },
      callback: (error: ServiceError | null, response: { status: string }) => void,
    ): void;
  };

  constructor(readonly address: string) {
    this.sessions = new SessionsClient(address, credentials.createInsecure());
    this.manifest = new ManifestClient(address, credentials.createInsecure());
    const Health = makeClientConstructor(healthService, "grpc.health.v1.Health");
    this.health = new Health(
      address,
      credentials.createInsecure(),
    ) as unknown as typeof this.health;
  }

  close(): void {
    for (const client of [this.sessions, this.manifest, this.health] as Client[]) client.close();
  }

  /** The node's `grpc.health.v1` status of `service` ("" for the server as a whole). */
  async healthOf(service: string): Promise<string> {
    const response = await call(this.health.check.bind(this.health), { service }, 5000);
    return response.status;
  }

  getSession(sessionId: string, minAppliedIndex: bigint): Promise<GetSessionResponse> {
    return call(this.sessions.getSession.bind(this.sessions), { sessionId, minAppliedIndex }, 5000);
  }

  exportSession(sessionId: string, minAppliedIndex: bigint): Promise<ExportSessionResponse> {
    return call(
      this.sessions.exportSession.bind(this.sessions),
      { sessionId, minAppliedIndex },
      5000,
    );
  }

  listBuilds(minAppliedIndex: bigint): Promise<ListBuildsResponse> {
    return call(this.manifest.listBuilds.bind(this.manifest), { envId: "", minAppliedIndex }, 5000);
  }
}

/** The discrete action `value` as the 4 bytes (u32, little-endian) the ABI expects. */
export function discreteAction(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** The bytes under a typed array (an observation as the client decoded it). */
export function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A legal action picked deterministically from a mask: the `pick`-th legal one, modulo. */
export function legalAction(mask: Uint8Array, pick: number): number {
  const legal: number[] = [];
  mask.forEach((allowed, action) => {
    if (allowed !== 0) legal.push(action);
  });
  if (legal.length === 0) throw new Error("no legal action");
  return legal[pick % legal.length] as number;
}

/** Every `serve` child started here, killed when the process exits even if a test failed. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/**
 * Starts `cartridge serve --port 0` (the CLI at `cli`) with more `args`, and resolves with its
 * address once it listens.
 */
export async function serve(
  cli: string,
  args: readonly string[],
): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    process.execPath,
    [cli, "serve", "--port", "0", "--log-level", "warn", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  const banner: string[] = [];
  const address = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`serve exited (${code}): ${banner.join("\n")}`)));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      banner.push(line);
      if (line.includes("health and reflection")) {
        const match = /listening on (\S+)/.exec(banner.join("\n"));
        if (match?.[1] !== undefined) resolve(match[1]);
        else reject(new Error(`no address in ${banner.join("\n")}`));
      }
    });
  });
  return { child, address };
}

/** SIGKILLs a child and waits until it exited. */
export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}
