import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CallError, type CallErrorCode, LoadError } from "../../../host/runtime/errors.js";
import {
  ERROR_CODE_METADATA_KEY,
  StatusError,
  statusForCode,
  toServiceError,
} from "../../../host/server/status.js";

const EXPECTED: Record<CallErrorCode, status> = {
  UnknownEnv: status.NOT_FOUND,
  UnknownBuild: status.NOT_FOUND,
  BadState: status.INVALID_ARGUMENT,
  BadAction: status.INVALID_ARGUMENT,
  BadHint: status.INVALID_ARGUMENT,
  BadArgument: status.INVALID_ARGUMENT,
  BadRequest: status.INVALID_ARGUMENT,
  IllegalAction: status.INVALID_ARGUMENT,
  EpisodeOver: status.FAILED_PRECONDITION,
  LimitExceeded: status.RESOURCE_EXHAUSTED,
  Timeout: status.RESOURCE_EXHAUSTED,
  Cancelled: status.CANCELLED,
  BudgetExceeded: status.RESOURCE_EXHAUSTED,
  Trap: status.INTERNAL,
  CartridgeInternal: status.INTERNAL,
};

describe("status mapping", () => {
  for (const [code, expected] of Object.entries(EXPECTED) as [CallErrorCode, status][]) {
    it(`maps ${code} to ${status[expected]} and keeps the message and code`, () => {
      const mapped = toServiceError(new CallError(code, "the message", "coin-v1"), {
        requestId: "r1",
      });
      expect(mapped.serviceError.code).toBe(expected);
      expect(mapped.serviceError.details).toContain("the message");
      expect(mapped.serviceError.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual([code]);
      expect(mapped.errorCode).toBe(code);
      expect(mapped.unexpected).toBe(false);
      expect(statusForCode(code)).toBe(expected);
    });
  }

  it("names the env when a cartridge traps, and blames the cartridge", () => {
    const mapped = toServiceError(new CallError("Trap", "unreachable executed"), {
      envId: "tictactoe-v1",
      requestId: "r2",
    });
    expect(mapped.serviceError.details).toMatch(/cartridge tictactoe-v1 failed/);
    expect(mapped.serviceError.details).toMatch(/not in your request/);
  });

  it("turns an untyped error into INTERNAL without leaking its detail", () => {
    const mapped = toServiceError(new TypeError("secret stack detail"), { requestId: "r3" });
    expect(mapped.serviceError.code).toBe(status.INTERNAL);
    expect(mapped.serviceError.details).not.toContain("secret");
    expect(mapped.serviceError.details).toContain("r3");
    expect(mapped.unexpected).toBe(true);
  });

  it("treats a load error reaching a call as internal", () => {
    const mapped = toServiceError(new LoadError("Compile", "bad wasm", "x.wasm"), {
      requestId: "r4",
    });
    expect(mapped.serviceError.code).toBe(status.INTERNAL);
    expect(mapped.unexpected).toBe(true);
  });

  it("maps a load past the load watchdog to RESOURCE_EXHAUSTED, like a call past its own", () => {
    const mapped = toServiceError(new LoadError("Timeout", "ran past the watchdog", "x.wasm"), {
      requestId: "r6",
    });
    expect(mapped.serviceError.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(mapped.serviceError.details).toContain("ran past the watchdog");
    expect(mapped.errorCode).toBe("Timeout");
    expect(mapped.unexpected).toBe(false);
  });

  it("passes through statuses that are nobody's bug", () => {
    const mapped = toServiceError(new StatusError(status.CANCELLED, "gone"), { requestId: "r5" });
    expect(mapped.serviceError.code).toBe(status.CANCELLED);
    expect(mapped.unexpected).toBe(false);
  });
});
