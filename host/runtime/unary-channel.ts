import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import type { BuildRef, Transition } from "./engine.js";
import type { GuestCall } from "./worker-protocol.js";

/**
 * The unary channel of one guest worker: a SharedArrayBuffer that carries a Step or a Reset to the
 * worker and its transition back without a message or a trip through either thread's event loop.
 *
 * - Doorbell: a worker between calls sleeps in `Atomics.wait` on a shared word. The main thread
 *   posts its messages as before and then rings (bumps the word, `Atomics.notify`): a futex wake,
 *   no libuv handle, no loop turn; the worker drains its port with `receiveMessageOnPort` itself.
 *   Every message to the worker rings after it is posted, so none waits for a wake-up.
 * - A Step or Reset whose request fits is written into the buffer instead of posted (no structured
 *   clone), and its transition comes back the same way: the worker writes it and stores the
 *   call's ticket in `ANSWERED`, and the main thread learns of it with `Atomics.waitAsync`. What
 *   does not fit, and every failure, goes back by message as before; `ANSWERED` still moves (to
 *   minus the ticket), saying so.
 *
 * Termination still works on a worker asleep here or running guest code: `worker.terminate()`
 * interrupts `Atomics.wait` as it interrupts a wasm loop.
 */

/** Words at the start of the buffer (Int32). */
const RUNG = 0;
/** Ticket of a call waiting in the buffer for the worker (0: none). */
const REQUEST = 1;
/**
 * Ticket of the last call the worker answered in the buffer, or minus it when answered by
 * message. Tickets, not call ids, because call ids outgrow 32 bits.
 */
const ANSWERED = 2;
const HEADER_BYTES = 16;

/** Tickets run 1..TICKET_MAX and round again; only equality is ever asked of them. */
const TICKET_MAX = 2 ** 30;
/** Stored in `ANSWERED` when the worker is gone, to release the main thread's wait. */
const ABANDONED = -(2 ** 31);

/**
 * Bytes for a request or a reply, past the header. Bundled games use well under 1 KiB; a bigger
 * call goes by message.
 */
export const UNARY_CHANNEL_BYTES = 64 * 1024;

/** The calls that cross the buffer: the unary ones that return one transition. */
export type ChannelCall = Extract<GuestCall, { op: "step" | "reset" }>;

/** A call as the worker takes it from the buffer: its id (for a posted answer) and ticket. */
export interface ChannelRequest {
  readonly id: number;
  readonly ticket: number;
  readonly call: ChannelCall;
}

const STEP = 1;
const RESET = 2;
const U64_LIMIT = 2n ** 64n;

/** `Atomics.waitAsync` (V8, Node 16+), which the ES2023 library this project builds with lacks. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      words: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Reads and writes length-prefixed fields past the header, in order. */
class Fields {
  private at = HEADER_BYTES;
  constructor(
    private readonly view: DataView,
    private readonly bytes: Uint8Array,
  ) {}

  /** False, writing nothing more, once the next field would not fit. */
  putBytes(value: Uint8Array): boolean {
    if (this.at + 4 + value.byteLength > this.bytes.byteLength) return false;
    this.view.setUint32(this.at, value.byteLength, true);
    this.bytes.set(value, this.at + 4);
    this.at += 4 + value.byteLength;
    return true;
  }

  putU64(value: bigint): boolean {
    if (this.at + 8 > this.bytes.byteLength) return false;
    this.view.setBigUint64(this.at, value, true);
    this.at += 8;
    return true;
  }

  putNumber(value: number): boolean {
    if (this.at + 8 > this.bytes.byteLength) return false;
    this.view.setFloat64(this.at, value, true);
    this.at += 8;
    return true;
  }

  /** A copy in a buffer of its own (not shared), so the caller may keep or transfer it. */
  takeBytes(): Uint8Array {
    const length = this.view.getUint32(this.at, true);
    const start = this.at + 4;
    this.at = start + length;
    return this.bytes.slice(start, start + length);
  }

  takeU64(): bigint {
    const value = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return value;
  }

  takeNumber(): number {
    const value = this.view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }
}

/** The main thread's half: one per worker, handed to the worker in its `workerData`. */
export class UnaryChannel {
  readonly buffer = new SharedArrayBuffer(HEADER_BYTES + UNARY_CHANNEL_BYTES);
  private readonly words = new Int32Array(this.buffer, 0, HEADER_BYTES / 4);
  private readonly view = new DataView(this.buffer);
  private readonly bytes = new Uint8Array(this.buffer);
  private ticket = 0;

  /** Wakes the worker to read its port and buffer: call after every `postMessage` to it. */
  ring(): void {
    Atomics.add(this.words, RUNG, 1);
    Atomics.notify(this.words, RUNG, 1);
  }

  /**
   * Writes call `id` into the buffer and rings; returns the call's ticket for `answer`. Undefined
   * when it cannot go this way (a selector without a build id, a seed the worker will refuse, or
   * too many bytes): then the caller posts it. One call at a time: the worker has answered (or
   * is gone from) the previous one.
   */
  send(id: number, call: ChannelCall): number | undefined {
    const { buildId } = call.selector;
    if (buildId === undefined) return undefined;
    const fields = new Fields(this.view, this.bytes);
    let fits =
      fields.putNumber(id) &&
      fields.putNumber(call.op === "step" ? STEP : RESET) &&
      fields.putBytes(utf8.encode(call.selector.envId)) &&
      fields.putBytes(utf8.encode(buildId));
    if (call.op === "step") {
      fits = fits && fields.putBytes(call.state) && fields.putBytes(call.action);
    } else {
      // An out-of-range seed goes by message, so the worker refuses it with its usual error.
      if (call.seed < 0n || call.seed >= U64_LIMIT) return undefined;
      fits =
        fits &&
        fields.putU64(call.seed) &&
        fields.putNumber(call.hint === undefined ? 0 : 1) &&
        (call.hint === undefined || fields.putBytes(call.hint));
    }
    if (!fits) return undefined;
    this.ticket = (this.ticket % TICKET_MAX) + 1;
    // The store publishes the fields written before it (Atomics are sequentially consistent).
    Atomics.store(this.words, REQUEST, this.ticket);
    this.ring();
    return this.ticket;
  }

  /**
   * Resolves once the worker has answered `ticket`: with its transition when it came back in the
   * buffer; undefined when it was posted (the message settles the call), when the worker is
   * gone, or when `wanted()` says the call was settled otherwise (a wait that missed its own
   * answer ends at the next one).
   */
  async answer(
    ticket: number,
    build: BuildRef,
    wanted: () => boolean,
  ): Promise<Transition | undefined> {
    for (;;) {
      const answered = Atomics.load(this.words, ANSWERED);
      if (answered === ABANDONED || answered === -ticket || !wanted()) return undefined;
      if (answered === ticket) break;
      const wait = waitAsync(this.words, ANSWERED, answered);
      if (wait.async) await wait.value;
    }
    const fields = new Fields(this.view, this.bytes);
    const state = fields.takeBytes();
    const obs = fields.takeBytes();
    const playerRewards = new Float32Array(fields.takeBytes().buffer);
    const legalMask = fields.takeBytes();
    const reward = fields.takeNumber();
    const flags = fields.takeNumber();
    const currentPlayer = fields.takeNumber();
    return {
      build,
      state,
      obs,
      reward,
      terminated: (flags & 1) !== 0,
      truncated: (flags & 2) !== 0,
      currentPlayer,
      playerRewards,
      legalMask,
    };
  }

  /** Releases a wait on a worker that is gone (terminated, replaced or closed). */
  abandon(): void {
    Atomics.store(this.words, ANSWERED, ABANDONED);
    Atomics.notify(this.words, ANSWERED);
  }
}

/** What a worker does with what reaches it. */
export interface ChannelHandlers {
  /** A message posted to the worker's port. */
  message(message: unknown): void;
  /** A call from the buffer; it must answer with `answerInBuffer` or `answerPosted`. */
  call(request: ChannelRequest): void;
}

/** The worker's half. */
export class UnaryChannelEnd {
  private readonly words: Int32Array;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /**
   * Handles every message posted to `port`, in order, and every call put in the buffer, and
   * sleeps between them until the doorbell rings. Never returns; the worker ends by being
   * terminated.
   */
  serve(port: MessagePort, handlers: ChannelHandlers): never {
    for (;;) {
      // Read the counter first: whatever arrives after the checks below has rung since, and the
      // wait then returns at once instead of sleeping on it.
      const seen = Atomics.load(this.words, RUNG);
      // The buffer first, then the port: a call's build is posted before the call is written, so
      // once the call is taken its build is in the port. Draining the port first raced: a build
      // posted just after the drain, with its call written before the take, ran the call on a
      // worker without the build (UnknownBuild, seen under load).
      const request = this.take();
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        handlers.message(m.message);
      }
      if (request !== undefined) handlers.call(request);
      Atomics.wait(this.words, RUNG, seen);
    }
  }

  /** The call waiting in the buffer, taken out of it; undefined when there is none. */
  take(): ChannelRequest | undefined {
    const ticket = Atomics.exchange(this.words, REQUEST, 0);
    if (ticket === 0) return undefined;
    const fields = new Fields(this.view, this.bytes);
    const id = fields.takeNumber();
    const op = fields.takeNumber();
    const selector = {
      envId: fromUtf8.decode(fields.takeBytes()),
      buildId: fromUtf8.decode(fields.takeBytes()),
    };
    if (op === STEP) {
      return {
        id,
        ticket,
        call: { op: "step", selector, state: fields.takeBytes(), action: fields.takeBytes() },
      };
    }
    const seed = fields.takeU64();
    const hint = fields.takeNumber() === 1 ? fields.takeBytes() : undefined;
    return {
      id,
      ticket,
      call: { op: "reset", selector, seed, ...(hint === undefined ? {} : { hint }) },
    };
  }

  /** Answers `ticket` with `t` in the buffer; false (nothing answered) when it does not fit. */
  answerInBuffer(ticket: number, t: Transition): boolean {
    const fields = new Fields(this.view, this.bytes);
    const rewards = t.playerRewards;
    const fits =
      fields.putBytes(t.state) &&
      fields.putBytes(t.obs) &&
      fields.putBytes(new Uint8Array(rewards.buffer, rewards.byteOffset, rewards.byteLength)) &&
      fields.putBytes(t.legalMask) &&
      fields.putNumber(t.reward) &&
      fields.putNumber((t.terminated ? 1 : 0) | (t.truncated ? 2 : 0)) &&
      fields.putNumber(t.currentPlayer);
    if (!fits) return false;
    this.answered(ticket);
    return true;
  }

  /** Says `ticket` was answered by message (posted before this call). */
  answerPosted(ticket: number): void {
    this.answered(-ticket);
  }

  private answered(value: number): void {
    Atomics.store(this.words, ANSWERED, value);
    Atomics.notify(this.words, ANSWERED);
  }
}
