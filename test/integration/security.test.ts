import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ChannelCredentials,
  type Client,
  credentials,
  Metadata,
  makeClientConstructor,
  status,
} from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certsInit, type WrittenCerts } from "../../host/cli/certs.js";
import { addToken } from "../../host/cli/tokens.js";
import type { ConnectOptions } from "../../host/client/engine-client.js";
import { EngineClient } from "../../host/client/index.js";
import { replicaIdsIn } from "../../host/consensus/transport/peer-identity.js";
import { resolveSecurity } from "../../host/server/auth/security.js";
import { INSECURE_HEALTH_SERVICE } from "../../host/server/server.js";
import { ERROR_CODE_METADATA_KEY } from "../../host/server/status.js";
import { type Harness, startHarness } from "./harness.js";

/**
 * TLS, client certificates, bearer tokens and roles on a real server, with certificates made by
 * `cartridge certs init` (openssl) and tokens by `cartridge tokens add`.
 */

let dir = "";
let certs: WrittenCerts;
let tokensFile = "";
let trainerToken = "";
let playerToken = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cartridge-security-"));
  certs = await certsInit({
    dir: join(dir, "certs"),
    nodes: ["1", "2"],
    clients: ["admin", "stranger"],
    days: 2,
  });
  tokensFile = join(dir, "tokens.toml");
  trainerToken = await addToken(tokensFile, "trainer", ["read", "play"]);
  playerToken = await addToken(tokensFile, "player", ["play"]);
  // The admin client certificate gets roles; the "stranger" certificate is valid but unlisted.
  await writeFile(
    tokensFile,
    `${await readFile(tokensFile, "utf8")}\n[[certificate]]\ncommon_name = "admin"\nroles = ["read", "admin"]\n`,
  );
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pem(file: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(file));
}

async function serverWith(clientCa: boolean): Promise<Harness> {
  const node = certs.nodes.get("1");
  const resolved = await resolveSecurity({
    host: "127.0.0.1",
    tlsCert: node?.cert,
    tlsKey: node?.key,
    tlsClientCa: clientCa ? certs.ca.cert : undefined,
    tokens: tokensFile,
  });
  // The harness's own client: the trainer token, and the admin certificate where one is required.
  const admin = certs.clients.get("admin");
  const tls = clientCa
    ? {
        ca: await pem(certs.ca.cert),
        cert: await pem(admin?.cert ?? ""),
        key: await pem(admin?.key ?? ""),
      }
    : { ca: await pem(certs.ca.cert) };
  return startHarness(undefined, { security: resolved.security }, { tls, token: trainerToken });
}

/** The health status of `service` as a client without any token sees it. */
async function healthStatus(
  address: string,
  channel: ChannelCredentials,
  service: string,
): Promise<string> {
  const Health = makeClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Health(address, channel) as unknown as Client & {
    check(
      request: { service: string },
      callback: (error: Error | null, response: { status: string }) => void,
    ): void;
  };
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service }, (error, response) =>
        error ? reject(error) : resolve(response.status),
      ),
    );
  } finally {
    client.close();
  }
}

async function resetError(address: string, options: ConnectOptions): Promise<unknown> {
  const client = await EngineClient.connect(address, options);
  try {
    const env = await client.make("tictactoe-v1");
    await env.reset({ seed: 1 });
    return undefined;
  } catch (error) {
    return error;
  } finally {
    client.close();
  }
}

describe("cartridge certs init", () => {
  it("names each node's replica id in its certificate, signed by the CA", async () => {
    const ca = new X509Certificate(await readFile(certs.ca.cert));
    for (const id of ["1", "2"]) {
      const cert = new X509Certificate(await readFile(certs.nodes.get(id)?.cert ?? ""));
      expect(replicaIdsIn(cert.subjectAltName)).toEqual([id]);
      expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
    }
    await expect(
      certsInit({ dir: join(dir, "certs"), nodes: ["1"], clients: [], days: 1 }),
    ).rejects.toThrow(/already holds a CA/);
  });
});

describe("a TLS server with a tokens file", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await serverWith(false);
  });
  afterAll(async () => {
    await harness.close();
  });

  it("serves a caller whose token has the role", async () => {
    const env = await harness.client.make("tictactoe-v1");
    const { obs } = await env.reset({ seed: 3 });
    expect(obs.length).toBe(27);
  });

  it("refuses a call without a token, with a wrong token, and without the role", async () => {
    const ca = await pem(certs.ca.cert);
    const cases: [ConnectOptions, status, string][] = [
      [{ tls: { ca } }, status.UNAUTHENTICATED, "Unauthenticated"],
      [{ tls: { ca }, token: "not-a-token" }, status.UNAUTHENTICATED, "Unauthenticated"],
      [{ tls: { ca }, token: `${trainerToken}x` }, status.UNAUTHENTICATED, "Unauthenticated"],
      [{ tls: { ca }, token: playerToken }, status.PERMISSION_DENIED, "PermissionDenied"],
    ];
    for (const [options, code, typed] of cases) {
      const error = await resetError(harness.server.address, options);
      expect(error).toMatchObject({ code, errorCode: typed });
      expect(String((error as Error).message)).not.toContain(trainerToken);
    }
    const metrics = await harness.metrics.registry.metrics();
    expect(metrics).toMatch(
      /cartridge_auth_refused_total\{error="Unauthenticated",requirement="read"\} 3/,
    );
    expect(metrics).toMatch(
      /cartridge_auth_refused_total\{error="PermissionDenied",requirement="read"\} 1/,
    );
  });

  it("answers health checks without credentials, and not over plaintext", async () => {
    const tls = credentials.createSsl(Buffer.from(await pem(certs.ca.cert)));
    expect(await healthStatus(harness.server.address, tls, "")).toBe("SERVING");
    await expect(
      EngineClient.connect(harness.server.address, { connectTimeoutMs: 1500 }),
    ).rejects.toThrow(/cannot reach/);
  });

  it("ignores an identity a client claims in metadata", async () => {
    const raw = new Metadata();
    raw.set("x-cartridge-identity", "trainer");
    const client = await EngineClient.connect(harness.server.address, {
      tls: { ca: await pem(certs.ca.cert) },
    });
    const error = await new Promise<unknown>((resolve) =>
      client.raw.listEnvs({}, raw, (e) => resolve(e)),
    );
    client.close();
    expect(error).toMatchObject({ code: status.UNAUTHENTICATED });
    expect((error as { metadata: Metadata }).metadata.get(ERROR_CODE_METADATA_KEY)).toEqual([
      "Unauthenticated",
    ]);
  });
});

describe("a server that requires client certificates", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await serverWith(true);
  });
  afterAll(async () => {
    await harness.close();
  });

  it("identifies a listed certificate, refuses an unlisted one and a client without one", async () => {
    const ca = await pem(certs.ca.cert);
    const admin = certs.clients.get("admin");
    const stranger = certs.clients.get("stranger");
    const asAdmin = { ca, cert: await pem(admin?.cert ?? ""), key: await pem(admin?.key ?? "") };
    expect(await resetError(harness.server.address, { tls: asAdmin })).toBeUndefined();
    const asStranger = {
      ca,
      cert: await pem(stranger?.cert ?? ""),
      key: await pem(stranger?.key ?? ""),
    };
    expect(await resetError(harness.server.address, { tls: asStranger })).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    await expect(
      EngineClient.connect(harness.server.address, {
        tls: { ca },
        token: trainerToken,
        connectTimeoutMs: 1500,
      }).then(async (client) => {
        try {
          await client.listEnvs();
        } finally {
          client.close();
        }
      }),
    ).rejects.toThrow();
  });
});

describe("an insecure server", () => {
  it("says so in its health", async () => {
    const resolved = await resolveSecurity({ host: "127.0.0.1", insecure: true });
    const harness = await startHarness(undefined, {
      security: { ...resolved.security, insecure: true },
    });
    try {
      const plain = credentials.createInsecure();
      expect(await healthStatus(harness.server.address, plain, INSECURE_HEALTH_SERVICE)).toBe(
        "SERVING",
      );
    } finally {
      await harness.close();
    }
  });
});
