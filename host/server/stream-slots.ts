/** The host part of a grpc-js peer ("127.0.0.1:5000", "[::1]:5000", "ipv4:1.2.3.4:5"). */
export function clientAddress(peer: string): string {
  const colon = peer.lastIndexOf(":");
  return colon < 0 ? peer : peer.slice(0, colon);
}

/**
 * Bounds the calls of one kind in progress (BatchSimulate and WatchSession streams, Reset and
 * Step calls waiting for or running guest code): at most `maxTotal` at once, and at most
 * `maxPerClient` from one client address, so that one client cannot take every slot. A refused
 * call gets a message saying which limit it hit.
 */
export class StreamSlots {
  private active = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    /** The call's name, for refusals ("BatchSimulate"). */
    private readonly what: string,
    private readonly maxTotal: number,
    private readonly maxPerClient: number,
  ) {}

  /**
   * Takes a slot for a stream from `peer`: returns the function that gives it back (call it
   * exactly once, when the stream ends), or the reason of a refusal.
   */
  acquire(peer: string): { release: () => void } | { refusal: string } {
    const client = clientAddress(peer);
    const fromClient = this.byClient.get(client) ?? 0;
    if (this.active >= this.maxTotal) {
      return {
        refusal: `${this.active} ${this.what} calls are already in progress (the limit); retry later`,
      };
    }
    if (fromClient >= this.maxPerClient) {
      return {
        refusal: `${fromClient} ${this.what} calls from your address are already in progress (the per-client limit); retry later`,
      };
    }
    this.active += 1;
    this.byClient.set(client, fromClient + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active -= 1;
        const left = (this.byClient.get(client) ?? 1) - 1;
        if (left === 0) this.byClient.delete(client);
        else this.byClient.set(client, left);
      },
    };
  }
}
