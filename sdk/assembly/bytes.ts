// Little-endian byte access over raw pointers into linear memory. WebAssembly loads and stores
// are little-endian by definition, so these are single instructions once inlined; they exist so
// that game code reads as "read a u32 at ptr" rather than as pointer arithmetic.

/** Reads the u8 at `ptr + offset`. */
// @ts-ignore: decorator
@inline export function readU8(ptr: usize, offset: usize = 0): u8 {
  return load<u8>(ptr + offset);
}

/** Writes `value` as a u8 at `ptr + offset`. */
// @ts-ignore: decorator
@inline export function writeU8(ptr: usize, offset: usize, value: u8): void {
  store<u8>(ptr + offset, value);
}

/** Reads the little-endian u32 at `ptr + offset` (any alignment). */
// @ts-ignore: decorator
@inline export function readU32(ptr: usize, offset: usize = 0): u32 {
  return load<u32>(ptr + offset);
}

/** Writes `value` as a little-endian u32 at `ptr + offset`. */
// @ts-ignore: decorator
@inline export function writeU32(ptr: usize, offset: usize, value: u32): void {
  store<u32>(ptr + offset, value);
}

/** Reads the little-endian f32 at `ptr + offset`. */
// @ts-ignore: decorator
@inline export function readF32(ptr: usize, offset: usize = 0): f32 {
  return load<f32>(ptr + offset);
}

/** Writes `value` as a little-endian f32 at `ptr + offset`. */
// @ts-ignore: decorator
@inline export function writeF32(ptr: usize, offset: usize, value: f32): void {
  store<f32>(ptr + offset, value);
}

/** Sets `length` bytes at `ptr` to zero. */
// @ts-ignore: decorator
@inline export function zeroBytes(ptr: usize, length: usize): void {
  memory.fill(ptr, 0, length);
}

/**
 * A read-only view of bytes owned by someone else (the reset hint in the exchange region). The
 * adapter reuses one instance for every call, so keep no reference to it after the call returns.
 */
export class ByteView {
  /** Address of the first byte. */
  ptr: usize = 0;
  /** Number of bytes. */
  length: i32 = 0;

  /** Reads byte `index`, which the caller has checked against `length`. */
  // @ts-ignore: decorator
  @inline u8At(index: i32): u8 {
    return load<u8>(this.ptr + <usize>index);
  }
}
