import { describe, expect, it } from "vitest";
import { REQUEST_WINDOW, RequestWindow } from "./request-window.js";

describe("the request window", () => {
  it("hands out growing ids and holds a new one back while the oldest is a window behind", async () => {
    const window = new RequestWindow();
    const ids: number[] = [];
    for (let i = 0; i < REQUEST_WINDOW; i += 1) ids.push(await window.acquire());
    expect(ids).toEqual(Array.from({ length: REQUEST_WINDOW }, (_, i) => i + 1));
    let next: number | undefined;
    const waiting = window.acquire().then((id) => {
      next = id;
    });
    // Settling a newer id does not help: the oldest (1) is still unanswered.
    window.release(REQUEST_WINDOW);
    await new Promise((resolve) => setImmediate(resolve));
    expect(next).toBeUndefined();
    window.release(1);
    await waiting;
    expect(next).toBe(REQUEST_WINDOW + 1);
  });
});
