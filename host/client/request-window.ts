/**
 * Request ids of one client id, for the cluster's retry table (docs/service.md, "Retries"). The
 * server keeps the answers of a client's last few request ids (its request window) so that a
 * retry gets the first answer; a request id that falls a whole window below the newest one is
 * refused as stale. So a client never lets its newest id run `WINDOW` ahead of its oldest
 * unanswered one: a new request waits until the oldest is settled.
 */

/**
 * Most request ids in flight, from the oldest unanswered to the newest. Half the server's window
 * (32 in host/consensus/sessions.ts), so that a client and a server of different versions agree.
 */
export const REQUEST_WINDOW = 16;

export class RequestWindow {
  private next = 1;
  private readonly outstanding = new Set<number>();
  private readonly waiting: (() => void)[] = [];

  /** The next request id, once it is within the window of the oldest unanswered one. */
  async acquire(): Promise<number> {
    while (!this.fits()) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    const id = this.next;
    this.next += 1;
    this.outstanding.add(id);
    return id;
  }

  /** Settles `id` (answered, or given up on): later ids may go. */
  release(id: number): void {
    if (!this.outstanding.delete(id)) return;
    for (const wake of this.waiting.splice(0)) wake();
  }

  private fits(): boolean {
    let oldest = this.next;
    for (const id of this.outstanding) oldest = Math.min(oldest, id);
    return this.next - oldest < REQUEST_WINDOW;
  }
}
