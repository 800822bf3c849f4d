import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("generated protobuf code", () => {
  it("matches proto/ (run `npm run gen` when this fails)", () => {
    const result = spawnSync(process.execPath, ["scripts/gen-proto.mjs", "--check"], {
      encoding: "utf8",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
