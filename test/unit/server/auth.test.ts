import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Authenticator } from "../../../host/server/auth/authenticator.js";
import { requirementFor } from "../../../host/server/auth/roles.js";
import { hashToken, parseTokens } from "../../../host/server/auth/tokens-file.js";
import { checkSecurity, isLoopbackHost } from "../../../host/server/tls.js";

const TOKEN = "s3cret-token-value";
const FILE = `
[[token]]
name = "trainer"
sha256 = "${hashToken(TOKEN)}"
roles = ["read", "play"]

[[certificate]]
common_name = "ops"
roles = ["admin"]
`;

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

describe("roles", () => {
  it("gives every RPC a requirement, and admin to anything not listed", () => {
    expect(requirementFor("/engine.v1.Engine/Step")).toBe("read");
    expect(requirementFor("/grpc.health.v1.Health/Check")).toBe("open");
    expect(requirementFor("/sessions.v1.Sessions/StepSession")).toBe("play");
    expect(requirementFor("/sessions.v1.Sessions/CreateSession")).toBe("play");
    expect(requirementFor("/sessions.v1.Sessions/CloseSession")).toBe("play");
    expect(requirementFor("/sessions.v1.Sessions/GetSession")).toBe("read");
    expect(requirementFor("/sessions.v1.Sessions/WatchSession")).toBe("read");
    expect(requirementFor("/manifest.v1.Manifest/Deploy")).toBe("admin");
    expect(requirementFor("/manifest.v1.Manifest/Allow")).toBe("admin");
    expect(requirementFor("/manifest.v1.Manifest/ListBuilds")).toBe("read");
    expect(requirementFor("/cluster.v1.Cluster/Status")).toBe("read");
    expect(requirementFor("/cluster.v1.Cluster/Put")).toBe("admin");
    expect(requirementFor("/new.v1.Service/Anything")).toBe("admin");
    expect(requirementFor("garbage")).toBe("admin");
  });
});

describe("the tokens file", () => {
  it("names the key that is wrong", () => {
    expect(() =>
      parseTokens('[[token]]\nname = "x"\nsha256 = "abc"\nroles = ["read"]', "t.toml"),
    ).toThrow(/t\.toml: token\.0\.sha256: must be 64 lowercase hex digits/);
    expect(() =>
      parseTokens(
        `[[token]]\nname = "x"\nsha256 = "${"a".repeat(64)}"\nroles = ["root"]`,
        "t.toml",
      ),
    ).toThrow(/token\.0\.roles\.0/);
    expect(() => parseTokens("[oops", "t.toml")).toThrow(/not valid TOML/);
    expect(() => parseTokens("extra = 1", "t.toml")).toThrow(/t\.toml/);
  });

  it("refuses a hash listed twice", () => {
    const twice = `${FILE}\n[[token]]\nname = "again"\nsha256 = "${hashToken(TOKEN)}"\nroles = ["read"]\n`;
    expect(() => parseTokens(twice, "t.toml")).toThrow(/repeats/);
  });
});

describe("the authenticator", () => {
  const closed = Authenticator.closed(parseTokens(FILE, "t.toml"));
  const noTls = {};

  it("identifies a token and checks its roles", () => {
    expect(closed.authorize("/engine.v1.Engine/Step", "read", bearer(TOKEN), noTls).name).toBe(
      "trainer",
    );
    expect(() =>
      closed.authorize("/cluster.v1.Cluster/Put", "admin", bearer(TOKEN), noTls),
    ).toThrow(expect.objectContaining({ code: "PermissionDenied" }));
  });

  it("refuses missing, unknown, malformed and oversized credentials without echoing them", () => {
    const bad = [new Metadata(), bearer("nope"), bearer(`${TOKEN} `), bearer("x".repeat(100_000))];
    const basic = new Metadata();
    basic.set("authorization", `Basic ${TOKEN}`);
    for (const metadata of [...bad, basic]) {
      let error: unknown;
      try {
        closed.authorize("/engine.v1.Engine/Step", "read", metadata, noTls);
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ code: "Unauthenticated" });
      expect((error as Error).message).not.toContain(TOKEN);
      expect((error as Error).message.length).toBeLessThan(200);
    }
  });

  it("identifies a verified client certificate by its common name", () => {
    const tls = { sslPeerCertificate: { subject: { CN: "ops" } } } as never;
    expect(closed.authorize("/cluster.v1.Cluster/Put", "admin", new Metadata(), tls).name).toBe(
      "ops",
    );
  });

  it("lets anything through an open server and health checks through a closed one", () => {
    expect(Authenticator.open().authorize("/x/y", "admin", new Metadata(), noTls).via).toBe("open");
    expect(
      closed.authorize("/grpc.health.v1.Health/Check", "open", new Metadata(), noTls).via,
    ).toBe("open");
  });

  it("takes a re-read tokens file without a restart", () => {
    const reloading = Authenticator.closed(parseTokens(FILE, "t.toml"));
    reloading.replaceTokens(parseTokens("", "t.toml"));
    expect(() =>
      reloading.authorize("/engine.v1.Engine/Step", "read", bearer(TOKEN), noTls),
    ).toThrow(expect.objectContaining({ code: "Unauthenticated" }));
  });
});

describe("what a server may be started with", () => {
  const tls = { certFile: "c", keyFile: "k" };
  it("knows loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.org", "128.0.0.1"]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it("stays open on loopback without tokens, and closes with them", () => {
    const base = { host: "127.0.0.1", tls: undefined, insecure: false };
    expect(checkSecurity({ ...base, tokensFile: undefined })).toEqual({
      open: true,
      insecure: false,
    });
    expect(checkSecurity({ ...base, tokensFile: "t" })).toEqual({ open: false, insecure: false });
  });

  it("refuses a non-loopback bind without TLS or without tokens unless told --insecure", () => {
    const base = { host: "0.0.0.0", insecure: false };
    expect(() => checkSecurity({ ...base, tls: undefined, tokensFile: "t" })).toThrow(/--insecure/);
    expect(() => checkSecurity({ ...base, tls, tokensFile: undefined })).toThrow(/--tokens/);
    expect(checkSecurity({ ...base, tls, tokensFile: "t" })).toEqual({
      open: false,
      insecure: false,
    });
    expect(
      checkSecurity({ ...base, insecure: true, tls: undefined, tokensFile: undefined }),
    ).toEqual({
      open: true,
      insecure: true,
    });
  });
});
