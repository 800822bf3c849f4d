import { describe, expect, it } from "vitest";
import type { Entry, SlotValue } from "../../../host/consensus/core/entry.js";
import { PrepareTally } from "../../../host/consensus/core/prepare.js";

const value = (name: string): SlotValue => ({
  kind: "batch",
  commands: [{ clientId: name, requestId: 1, payload: new Uint8Array() }],
});
const entry = (index: number, ballot: number, name: string): Entry => ({
  index,
  ballot,
  value: value(name),
});

describe("PrepareTally (phase 1 results)", () => {
  it("keeps the value accepted at the highest ballot", () => {
    const tally = new PrepareTally(5000, 1);
    tally.record(1, 1, [entry(1, 2000, "old")], 1, 0);
    tally.record(2, 1, [entry(1, 3000, "new")], 1, 0);
    tally.record(3, 1, [entry(1, 1000, "older")], 1, 0);
    expect(tally.slot(1)?.value).toEqual(value("new"));
    expect(tally.completeCount()).toBe(3);
  });

  it("prefers a value some acceptor knows chosen", () => {
    const tally = new PrepareTally(5000, 1);
    tally.record(1, 1, [entry(1, 1000, "chosen")], 1, 1);
    tally.record(2, 1, [entry(1, 3000, "chosen-too")], 1, 0);
    expect(tally.slot(1)).toMatchObject({ chosen: true, value: value("chosen") });
  });

  it("counts an acceptor complete only after every chunk arrived, in order", () => {
    const tally = new PrepareTally(5000, 1);
    expect(tally.record(1, 1, [entry(1, 10, "a"), entry(2, 10, "b")], 4, 0)).toBe(3);
    expect(tally.completeCount()).toBe(0);
    // A duplicate or out-of-order chunk changes nothing.
    expect(tally.record(1, 1, [entry(1, 10, "a")], 4, 0)).toBe(3);
    expect(tally.record(1, 3, [entry(3, 10, "c"), entry(4, 10, "d")], 4, 0)).toBeUndefined();
    expect(tally.completeCount()).toBe(1);
    expect(tally.highestIndex()).toBe(4);
  });

  it("names the reports that did not move since it last looked, to ask for their next chunk", () => {
    const tally = new PrepareTally(5000, 1);
    tally.record(1, 1, [entry(1, 10, "a")], 3, 0);
    tally.record(2, 1, [entry(1, 10, "a")], 1, 0);
    // Acceptor 1 just moved (1 -> 2); acceptor 2 is complete; nobody else reported yet.
    expect(tally.stalledReports()).toEqual([]);
    expect(tally.stalledReports()).toEqual([[1, 2]]);
    tally.record(1, 2, [entry(2, 10, "b")], 3, 0);
    expect(tally.stalledReports()).toEqual([]);
    tally.record(1, 3, [entry(3, 10, "c")], 3, 0);
    expect(tally.stalledReports()).toEqual([]);
  });
});
