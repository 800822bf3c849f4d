import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  type Client,
  type ClientDuplexStream,
  credentials,
  loadPackageDefinition,
  makeClientConstructor,
  type ServiceClientConstructor,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsoleHarness } from "./console-harness.js";
import { type Harness, startHarness } from "./harness.js";

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
}

type ReflectionClient = Client & {
  ServerReflectionInfo(): ClientDuplexStream<Record<string, string>, ReflectionResponse>;
};

/** A generic reflection client, built from the reflection .proto that @grpc/reflection ships. */
function reflectionClient(address: string): ReflectionClient {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto");
  const definition = loadSync("grpc/reflection/v1/reflection.proto", {
    includeDirs: [root],
    keepCase: true,
    oneofs: true,
  });
  const grpcPackage = loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } };
  };
  const Ctor = grpcPackage.grpc.reflection.v1.ServerReflection;
  return new Ctor(address, credentials.createInsecure()) as unknown as ReflectionClient;
}

function ask(
  client: ReflectionClient,
  request: Record<string, string>,
): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.once("data", (response: ReflectionResponse) => {
      resolve(response);
      call.end();
    });
    call.once("error", reject);
    call.write(request);
  });
}

describe("health checking and reflection", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  it("reports SERVING for the server and the Engine service", async () => {
    const Health = makeClientConstructor(healthService, "grpc.health.v1.Health");
    const client = new Health(
      h.server.address,
      credentials.createInsecure(),
    ) as unknown as Client & {
      check(
        request: { service: string },
        callback: (error: Error | null, response: { status: string }) => void,
      ): void;
    };
    const check = (name: string) =>
      new Promise<string>((resolve, reject) =>
        client.check({ service: name }, (error, response) =>
          error ? reject(error) : resolve(response.status),
        ),
      );
    expect(await check("")).toBe("SERVING");
    expect(await check("engine.v1.Engine")).toBe("SERVING");
    h.server.health.setStatus("engine.v1.Engine", "NOT_SERVING");
    expect(await check("engine.v1.Engine")).toBe("NOT_SERVING");
    h.server.health.setStatus("engine.v1.Engine", "SERVING");
    client.close();
  });

  it("lists and describes the services through reflection", async () => {
    const client = reflectionClient(h.server.address);
    const listed = await ask(client, { list_services: "" });
    const names = listed.list_services_response?.service.map((s) => s.name) ?? [];
    expect(names).toEqual(expect.arrayContaining(["engine.v1.Engine", "grpc.health.v1.Health"]));
    const described = await ask(client, { file_containing_symbol: "engine.v1.Engine" });
    const files = described.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString("latin1")).toContain("BatchSimulate");
    client.close();
  });

  it("describes the Sessions and Manifest services of a console server", async () => {
    const consoleServer = await startConsoleHarness();
    const client = reflectionClient(consoleServer.server.address);
    try {
      const listed = await ask(client, { list_services: "" });
      const names = listed.list_services_response?.service.map((s) => s.name) ?? [];
      expect(names).toEqual(
        expect.arrayContaining([
          "engine.v1.Engine",
          "sessions.v1.Sessions",
          "manifest.v1.Manifest",
        ]),
      );
      const described = await ask(client, { file_containing_symbol: "sessions.v1.Sessions" });
      const files = described.file_descriptor_response?.file_descriptor_proto ?? [];
      expect(Buffer.concat(files).toString("latin1")).toContain("WatchSession");
    } finally {
      client.close();
      await consoleServer.close();
    }
  });
});
