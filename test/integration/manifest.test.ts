import { createHash } from "node:crypto";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DeployRequest,
  type DeployResponse,
  type ListBuildsResponse,
  ManifestClient,
} from "../../host/proto/generated/manifest/v1/manifest.js";
import { Authenticator } from "../../host/server/auth/authenticator.js";
import { hashToken, parseTokens } from "../../host/server/auth/tokens-file.js";
import { counterBuild } from "../fixtures/counter-variants.js";
import { type ConsoleHarness, startConsoleHarness } from "./console-harness.js";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A generated-client call as a promise; a failure rejects with the grpc-js error. */
function call<Res>(
  run: (callback: (error: ServiceError | null, response: Res) => void) => void,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    run((error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function refusal(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail");
}

function typedCode(error: ServiceError): unknown {
  return error.metadata.get("cartridge-error-code")[0];
}

describe("the Manifest service over the replicated console", () => {
  let h: ConsoleHarness;
  let raw: ManifestClient;
  let requestId = 0n;
  const deploy = (module: Uint8Array, extra: Partial<DeployRequest> = {}) =>
    call<DeployResponse>((cb) =>
      raw.deploy(
        {
          clientId: "deployer",
          requestId: ++requestId,
          module: Buffer.from(module),
          makeCurrent: true,
          sha256: "",
          ...extra,
        },
        cb,
      ),
    );
  const ids = () => ({ clientId: "deployer", requestId: ++requestId });
  const list = () =>
    call<ListBuildsResponse>((cb) =>
      raw.listBuilds({ envId: "counter-v1", minAppliedIndex: 0n }, cb),
    );

  beforeAll(async () => {
    h = await startConsoleHarness();
    raw = new ManifestClient(h.server.address, credentials.createInsecure());
  });

  afterAll(async () => {
    raw?.close();
    await h?.close();
  });

  it("deploys a build that the Engine then serves, idempotently", async () => {
    const module = await counterBuild(1);
    const first = await deploy(module);
    expect(first.build).toMatchObject({
      envId: "counter-v1",
      buildId: sha256(module),
      current: true,
      deployedBy: "",
      sizeBytes: BigInt(module.length),
    });
    const caps = await h.client.capabilities("counter-v1");
    expect(caps.id?.buildId).toBe(sha256(module));
    const again = await deploy(module);
    expect(again.build?.buildId).toBe(first.build?.buildId);
    expect((await list()).builds.map((b) => b.buildId)).toEqual([sha256(module)]);
  });

  it("makes a build current, and refuses to retire a current or pinned build (InUse)", async () => {
    const one = await counterBuild(1);
    const two = await counterBuild(2);
    await deploy(one);
    await deploy(two, { makeCurrent: false });
    expect((await h.client.capabilities("counter-v1")).id?.buildId).toBe(sha256(one));
    const session = await h.client.session("counter-v1", { seed: 1, buildId: sha256(two) });

    await call((cb) => raw.setCurrent({ ...ids(), envId: "counter-v1", buildId: sha256(two) }, cb));
    expect((await list()).builds.find((b) => b.current)?.buildId).toBe(sha256(two));
    const current = await refusal(
      call((cb) => raw.retire({ ...ids(), envId: "counter-v1", buildId: sha256(two) }, cb)),
    );
    expect(current.code).toBe(status.FAILED_PRECONDITION);
    expect(typedCode(current)).toBe("InUse");

    await call((cb) => raw.setCurrent({ ...ids(), envId: "counter-v1", buildId: sha256(one) }, cb));
    const pinned = await refusal(
      call((cb) => raw.retire({ ...ids(), envId: "counter-v1", buildId: sha256(two) }, cb)),
    );
    expect(typedCode(pinned)).toBe("InUse");
    await session.close();
    await call((cb) => raw.retire({ ...ids(), envId: "counter-v1", buildId: sha256(two) }, cb));
    expect((await list()).builds.map((b) => b.buildId)).not.toContain(sha256(two));
  });

  it("keeps builds outside an env's allow-list out (NotAllowed)", async () => {
    const allowed = await counterBuild(1);
    const other = await counterBuild(3);
    await call((cb) =>
      raw.allow({ ...ids(), envId: "counter-v1", buildIds: [sha256(allowed)] }, cb),
    );
    expect((await list()).allowLists).toEqual([
      { envId: "counter-v1", buildIds: [sha256(allowed)] },
    ]);
    const refused = await refusal(deploy(other));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(typedCode(refused)).toBe("NotAllowed");
    await call((cb) => raw.allow({ ...ids(), envId: "counter-v1", buildIds: [] }, cb));
    expect((await deploy(other, { makeCurrent: false })).build?.buildId).toBe(sha256(other));
  });

  it("refuses a broken module or a wrong hash before anything is proposed", async () => {
    const applied = h.consensus.lastAppliedIndex();
    const broken = await refusal(deploy(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99])));
    expect(broken.code).toBe(status.INVALID_ARGUMENT);
    expect(typedCode(broken)).toBe("BadModule");
    const module = await counterBuild(4);
    const wrongHash = await refusal(deploy(module, { sha256: "0".repeat(64) }));
    expect(wrongHash.code).toBe(status.INVALID_ARGUMENT);
    expect(h.consensus.lastAppliedIndex()).toBe(applied);
  });
});

describe("Deploy with authentication", () => {
  let h: ConsoleHarness;

  beforeAll(async () => {
    const tokens = parseTokens(
      [
        `[[token]]\nname = "ops"\nsha256 = "${hashToken("ops-secret")}"\nroles = ["admin", "read"]`,
        `[[token]]\nname = "viewer"\nsha256 = "${hashToken("viewer-secret")}"\nroles = ["read"]`,
      ].join("\n"),
      "tokens.toml",
    );
    h = await startConsoleHarness({
      authenticator: Authenticator.closed(tokens),
      connect: { token: "ops-secret" },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  it("deploys from the TS client with its token", async () => {
    const module = await counterBuild(6);
    const { build, index } = await h.client.deploy(module, { makeCurrent: false });
    expect(build).toMatchObject({
      envId: "counter-v1",
      buildId: sha256(module),
      deployedBy: "ops",
    });
    const listed = await h.client.listBuilds({ envId: "counter-v1", minAppliedIndex: index });
    expect(listed.builds.map((b) => b.buildId)).toContain(sha256(module));
  });

  it("records the caller's identity as deployed_by, and refuses a read-only caller", async () => {
    const raw = new ManifestClient(h.server.address, credentials.createInsecure());
    const as = (token: string) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      // A client cannot claim an identity: the server sets this key itself.
      metadata.set("x-cartridge-identity", "mallory");
      return metadata;
    };
    try {
      const module = await counterBuild(5);
      const request = {
        clientId: "ops",
        requestId: 1n,
        module: Buffer.from(module),
        makeCurrent: true,
        sha256: sha256(module),
      };
      const denied = await refusal(call((cb) => raw.deploy(request, as("viewer-secret"), cb)));
      expect(denied.code).toBe(status.PERMISSION_DENIED);
      const deployed = await call<DeployResponse>((cb) =>
        raw.deploy(request, as("ops-secret"), cb),
      );
      expect(deployed.build?.deployedBy).toBe("ops");
      const listed = await call<ListBuildsResponse>((cb) =>
        raw.listBuilds({ envId: "", minAppliedIndex: deployed.index }, as("viewer-secret"), cb),
      );
      expect(listed.builds.find((b) => b.envId === "counter-v1")?.deployedBy).toBe("ops");
    } finally {
      raw.close();
    }
  });
});
