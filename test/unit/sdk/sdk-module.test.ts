import path from "node:path";
import { describe, expect, it } from "vitest";
import { SDK_MODULE, sdkFileFor } from "../../../host/cli/cartridge-compiler.js";

describe("the SDK's module name", () => {
  const root = path.join(path.sep, "opt", "host");

  it("is what games import", () => {
    expect(SDK_MODULE).toBe("cartridge/sdk");
  });

  it("maps AssemblyScript's node_modules lookups of cartridge/sdk to the host's own SDK", () => {
    const lookup = path.join("/home/me/game/node_modules/cartridge/sdk/index.ts");
    expect(sdkFileFor(lookup, root)).toBe(path.join(root, "sdk", "index.ts"));
    const inner = path.join("/x/node_modules/cartridge/node_modules/cartridge/sdk/assembly/rng.ts");
    expect(sdkFileFor(inner, root)).toBe(path.join(root, "sdk", "assembly", "rng.ts"));
  });

  it("leaves every other file alone and never escapes the SDK folder", () => {
    expect(sdkFileFor("/home/me/game/assembly/game.ts", root)).toBeUndefined();
    expect(sdkFileFor("/x/node_modules/cartridge-extra/sdk/index.ts", root)).toBeUndefined();
    expect(sdkFileFor("/x/node_modules/other/sdk/index.ts", root)).toBeUndefined();
    expect(sdkFileFor("/x/node_modules/cartridge/sdk/../../../etc/passwd", root)).toBeUndefined();
  });
});
