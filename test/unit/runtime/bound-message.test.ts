import { describe, expect, it } from "vitest";
import {
  boundForMessage,
  MAX_MESSAGE_BYTES,
  quoteForMessage,
} from "../../../host/runtime/errors.js";

describe("bounding echoed strings", () => {
  it("keeps short strings as they are", () => {
    expect(boundForMessage("no env named x")).toBe("no env named x");
    expect(quoteForMessage("tictactoe-v1")).toBe('"tictactoe-v1"');
  });

  it("cuts long strings by UTF-8 bytes, never inside a character, and says how much", () => {
    const cut = boundForMessage("😀".repeat(1000));
    const kept = cut.slice(0, cut.indexOf("…"));
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(kept).toBe("😀".repeat(MAX_MESSAGE_BYTES / 4));
    expect(cut).toContain(`(${2000 - kept.length} more chars)`);
  });

  it("quotes at most the given number of characters", () => {
    expect(quoteForMessage("x".repeat(10), 4)).toBe('"xxxx"… (6 more chars)');
  });
});
