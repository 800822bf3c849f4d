import { frameLengthAt } from "../../wire/frame.js";
import { LENGTH_PREFIX_BYTES } from "../../wire/limits.js";

/**
 * Cuts a byte stream into length-prefixed frames. A length prefix above `maxFrameBytes` is
 * reported as soon as its 4 bytes arrive, so a peer cannot make the reader buffer a giant frame.
 * Complete frames inside one chunk are handed out as views of it (no copy); a frame split across
 * chunks is collected and joined once, when its last byte arrives.
 */
export class FrameReader {
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  /** Size of the frame being collected (prefix included), or -1 while its prefix is incomplete. */
  private needed = -1;
  maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for an incomplete frame. */
  bufferedBytes(): number {
    return this.partsBytes;
  }

  /**
   * Feeds a chunk. `onFrame` gets each whole frame (prefix included) and returns false to stop
   * reading (the connection was closed). Returns the size of an oversized frame's length prefix
   * (the caller must disconnect), or undefined.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean): number | undefined {
    let data = chunk;
    let offset = 0;
    if (this.partsBytes > 0) {
      if (this.needed < 0) {
        data = join([...this.parts, chunk], this.partsBytes + chunk.byteLength);
        this.clear();
      } else {
        const take = Math.min(this.needed - this.partsBytes, chunk.byteLength);
        this.parts.push(chunk.subarray(0, take));
        this.partsBytes += take;
        offset = take;
        if (this.partsBytes < this.needed) {
          return undefined;
        }
        const frame = join(this.parts, this.needed);
        this.clear();
        if (!onFrame(frame)) {
          return undefined;
        }
      }
    }
    while (data.byteLength - offset >= LENGTH_PREFIX_BYTES) {
      const frameBytes = frameLengthAt(data, offset) + LENGTH_PREFIX_BYTES;
      if (frameBytes > this.maxFrameBytes) {
        this.clear();
        return frameBytes;
      }
      if (data.byteLength - offset < frameBytes) {
        this.needed = frameBytes;
        break;
      }
      const frame = data.subarray(offset, offset + frameBytes);
      offset += frameBytes;
      if (!onFrame(frame)) {
        return undefined;
      }
    }
    if (offset < data.byteLength) {
      this.parts.push(data.subarray(offset));
      this.partsBytes += data.byteLength - offset;
    }
    return undefined;
  }

  private clear(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.needed = -1;
  }
}

function join(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const joined = new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
