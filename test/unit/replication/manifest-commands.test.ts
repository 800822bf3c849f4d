import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplicationError } from "../../../host/replication/errors.js";
import { MANIFEST_LIMITS } from "../../../host/replication/limits.js";
import {
  decodeManifestBody,
  decodeManifestResult,
  encodeManifestBody,
  encodeManifestResult,
  type ManifestCommand,
  type ManifestResult,
} from "../../../host/replication/manifest/manifest-commands.js";

const hex = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const envId = fc.constantFrom("counter-v1", "tic_tac.toe-v12", "a-b-c-v0");

const commandArb: fc.Arbitrary<ManifestCommand> = fc.oneof(
  fc.record({
    op: fc.constant("install" as const),
    envId,
    sha256: hex,
    module: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    makeCurrent: fc.boolean(),
    deployedBy: fc.string({ maxLength: 40 }),
  }),
  fc.record({ op: fc.constantFrom("setCurrent" as const, "retire" as const), envId, buildId: hex }),
  fc.record({
    op: fc.constant("allow" as const),
    envId,
    sha256s: fc.uniqueArray(hex, { maxLength: MANIFEST_LIMITS.maxAllowedPerEnv }),
  }),
);

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ReplicationError) return error.code;
    throw error;
  }
  return undefined;
}

const install = (changes: Partial<Extract<ManifestCommand, { op: "install" }>>) =>
  ({
    op: "install",
    envId: "counter-v1",
    sha256: "a".repeat(64),
    module: new Uint8Array([1]),
    makeCurrent: true,
    deployedBy: "",
    ...changes,
  }) as const;

describe("manifest command codec", () => {
  it("round-trips every valid command", () => {
    fc.assert(
      fc.property(commandArb, (command) => {
        expect(decodeManifestBody(encodeManifestBody(command))).toEqual(command);
      }),
    );
  });

  it("refuses bad arguments before proposing, with typed codes", () => {
    expect(codeOf(() => encodeManifestBody(install({ envId: "Counter" })))).toBe("BadArgument");
    expect(codeOf(() => encodeManifestBody(install({ envId: `${"a".repeat(70)}-v1` })))).toBe(
      "BadArgument",
    );
    expect(codeOf(() => encodeManifestBody(install({ sha256: "A".repeat(64) })))).toBe(
      "BadArgument",
    );
    expect(codeOf(() => encodeManifestBody(install({ module: new Uint8Array() })))).toBe(
      "BadArgument",
    );
    expect(
      codeOf(() =>
        encodeManifestBody(install({ module: new Uint8Array(MANIFEST_LIMITS.maxModuleBytes + 1) })),
      ),
    ).toBe("LimitExceeded");
    expect(
      codeOf(() =>
        encodeManifestBody(
          install({ deployedBy: "x".repeat(MANIFEST_LIMITS.maxDeployedByBytes + 1) }),
        ),
      ),
    ).toBe("LimitExceeded");
    const many = Array.from({ length: MANIFEST_LIMITS.maxAllowedPerEnv + 1 }, (_, i) =>
      i.toString(16).padStart(64, "0"),
    );
    expect(
      codeOf(() => encodeManifestBody({ op: "allow", envId: "counter-v1", sha256s: many })),
    ).toBe("LimitExceeded");
    expect(
      codeOf(() =>
        encodeManifestBody({
          op: "allow",
          envId: "counter-v1",
          sha256s: ["b".repeat(64), "b".repeat(64)],
        }),
      ),
    ).toBe("BadArgument");
    expect(
      codeOf(() => encodeManifestBody({ op: "retire", envId: "counter-v1", buildId: "xyz" })),
    ).toBe("BadArgument");
  });

  it("decodes nothing but BadCommand from random or truncated bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        const code = codeOf(() => decodeManifestBody(bytes));
        expect(code === undefined || code === "BadCommand").toBe(true);
      }),
    );
    fc.assert(
      fc.property(commandArb, fc.nat(), (command, cut) => {
        const bytes = encodeManifestBody(command);
        const at = cut % bytes.length;
        expect(codeOf(() => decodeManifestBody(bytes.subarray(0, at)))).toBe("BadCommand");
      }),
    );
  });

  it("a committed command that breaks a rule is a BadCommand rejection", () => {
    const bytes = encodeManifestBody({
      op: "retire",
      envId: "counter-v1",
      buildId: "c".repeat(64),
    });
    const badEnv = bytes.slice();
    badEnv[3] = "C".charCodeAt(0); // "counter-v1" -> "Counter-v1"
    expect(() => decodeManifestBody(badEnv)).toThrow(/must look like name-v1/);
  });

  it("round-trips results", () => {
    const build = {
      envId: "counter-v1",
      buildId: "d".repeat(64),
      current: true,
      installedIndex: 7,
      deployedBy: "alice",
      sizeBytes: 1234,
    };
    const results: ManifestResult[] = [
      { op: "install", build, created: true, retired: ["e".repeat(64)] },
      { op: "setCurrent", build, previousBuildId: "f".repeat(64) },
      { op: "retire", envId: "counter-v1", buildId: "d".repeat(64) },
      { op: "allow", envId: "counter-v1", sha256s: ["d".repeat(64)] },
    ];
    for (const result of results) {
      expect(decodeManifestResult(encodeManifestResult(result))).toEqual(result);
    }
  });
});
