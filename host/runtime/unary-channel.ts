import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";

/**
 * A doorbell per guest worker, so that a unary call reaches its worker without a trip through
 * the worker's event loop. A worker between calls sleeps in `Atomics.wait` on a shared word;
 * the main thread posts its message as before, then rings: it bumps the word and
 * `Atomics.notify` wakes the worker at once (a futex wake, no libuv handle, no loop turn), and
 * the worker drains its port with `receiveMessageOnPort` in its own loop. Every message to the
 * worker goes through `ring` after it is posted, so none waits for a wake-up that never comes.
 *
 * Termination still works on a worker asleep here or running guest code: `worker.terminate()`
 * interrupts `Atomics.wait` as it interrupts a wasm loop.
 */

/** Index of the ring counter in the doorbell's words. */
const RUNG = 0;
const WORDS = 1;

/** The main thread's half: one per worker, handed to the worker in its `workerData`. */
export class Doorbell {
  readonly buffer = new SharedArrayBuffer(WORDS * Int32Array.BYTES_PER_ELEMENT);
  private readonly words = new Int32Array(this.buffer);

  /** Wakes the worker to read its port: call after every `postMessage` to it. */
  ring(): void {
    Atomics.add(this.words, RUNG, 1);
    Atomics.notify(this.words, RUNG, 1);
  }
}

/**
 * The worker's half: handles every message posted to `port`, in order, and sleeps between them
 * until the doorbell in `buffer` rings. Never returns; the worker ends by being terminated.
 */
export function answerDoorbell(
  buffer: SharedArrayBuffer,
  port: MessagePort,
  handle: (message: unknown) => void,
): never {
  const words = new Int32Array(buffer);
  for (;;) {
    // Read the counter before draining: a message posted after the drain has rung since, and
    // the wait below then returns at once instead of sleeping on it.
    const seen = Atomics.load(words, RUNG);
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      handle(m.message);
    }
    Atomics.wait(words, RUNG, seen);
  }
}
