import { bulkOperation, bulkShift, instructionWeight } from "./fuel-costs.js";
import { ByteReader, ByteWriter } from "./wasm-binary.js";
import { Opcode, skipInstruction } from "./wasm-instructions.js";

/**
 * Rewrites one function body to charge fuel (see fuel.ts for the module-level picture).
 *
 * A function without loops or bulk operations is charged the weight of its whole body on entry,
 * straight on the fuel global: an upper bound of any path through it, four instructions and no
 * local. Only functions that call others or are exported check the fuel there (a leaf overdraws
 * by at most its own size, and its caller checks at its next loop header or exit).
 *
 * A function with loops counts fuel in a new local (a register, rather than a memory round trip
 * per segment). Its body is cut into segments of straight-line code, each charged its weight
 * when it starts: a new segment starts at every loop header (which also checks), after a loop,
 * at the join after a block that a branch targets, and at an `else` or the `end` of an `if` whose
 * arms contain a segment start. Elsewhere a skipped arm or the rest of a segment after a taken
 * `br_if` is charged anyway: an overcharge bounded by the function's size, and still the same on
 * every machine. Every cycle passes a loop header or a function entry, so the fuel is checked at
 * least once per iteration. The local is written back to the global before every call and exit
 * and read back after every call, so callees and the host always see the exact count; bulk
 * operations are charged their byte count from their operand before they run.
 */

/** Global indices and limits shared by every function of a module. */
export interface Meter {
  readonly fuelGlobal: number;
  readonly depthGlobal: number;
  readonly maxCallDepth: number;
  /** Functions below this index are imports (only `env.abort`, which never returns). */
  readonly importedFunctions: number;
}

/** How one function is rewritten, besides its body. */
export interface BodyPlan {
  /** Number of parameters (the added locals come after them and the declared locals). */
  readonly params: number;
  /** True when the host may call it (exported or the start function): it checks its fuel. */
  readonly exported: boolean;
  /** The block type wrapping the body (its results), so branches to the function label exit. */
  readonly blockType: Uint8Array;
}

/**
 * Receives each stretch of the original body copied unchanged: where it landed in the rewritten
 * body, where it came from, and its length (offsets relative to the start of each body).
 */
export type CopiedRuns = (metered: number, original: number, length: number) => void;

/** Copies body bytes [from, to) to `out`, telling `runs` where they went. */
function copy(out: ByteWriter, body: Uint8Array, from: number, to: number, runs?: CopiedRuns) {
  runs?.(out.length, from, to - from);
  out.bytes(body.subarray(from, to));
}

const CALL_OPCODES = new Set([0x10, 0x11, 0x12, 0x13, 0x14, 0x15]);
const RETURN_OPCODES = new Set<number>([
  Opcode.return,
  Opcode.returnCall,
  Opcode.returnCallIndirect,
  Opcode.returnCallRef,
]);
const I64 = 0x7e;
const I32 = 0x7f;

function readU32At(body: Uint8Array, at: number): number {
  return new ByteReader(body, at).u32();
}

/** True for a `call` of an import (`env.abort`), which never returns and needs no bookkeeping. */
function callsImport(body: Uint8Array, at: number, op: number, meter: Meter): boolean {
  return op === Opcode.call && readU32At(body, at + 1) < meter.importedFunctions;
}

interface Scan {
  readonly makesCalls: boolean;
  readonly hasLoop: boolean;
  readonly hasBulk: boolean;
  /** Sum of the weights of every instruction. */
  readonly weight: number;
}

function scanBody(body: Uint8Array, start: number, meter: Meter): Scan {
  const reader = new ByteReader(body, start);
  let makesCalls = false;
  let hasLoop = false;
  let hasBulk = false;
  let weight = 0;
  while (!reader.done) {
    const at = reader.offset;
    const op = skipInstruction(reader);
    weight += instructionWeight(op);
    if (op === Opcode.loop) hasLoop = true;
    if (CALL_OPCODES.has(op) && !callsImport(body, at, op, meter)) makesCalls = true;
    if (bulkOperation(op, op === 0xfc ? readU32At(body, at + 1) : -1) !== undefined) {
      hasBulk = true;
    }
  }
  return { makesCalls, hasLoop, hasBulk, weight };
}

function globalOp(w: ByteWriter, op: 0x23 | 0x24, index: number): ByteWriter {
  return w.byte(op).u32(index);
}

/** `if unreachable end` on an i32 condition. */
function trapIf(w: ByteWriter): ByteWriter {
  return w.byte(0x04).byte(0x40).byte(0x00).byte(0x0b);
}

function depthEnter(meter: Meter): Uint8Array {
  const w = new ByteWriter();
  globalOp(w, 0x23, meter.depthGlobal).byte(0x41).byte(0x01).byte(0x6a); // i32.const 1; add
  globalOp(w, 0x24, meter.depthGlobal);
  globalOp(w, 0x23, meter.depthGlobal).byte(0x41).s32(meter.maxCallDepth).byte(0x4b); // gt_u
  return trapIf(w).finish();
}

function depthLeave(meter: Meter): Uint8Array {
  const w = new ByteWriter();
  globalOp(w, 0x23, meter.depthGlobal).byte(0x41).byte(0x01).byte(0x6b); // i32.const 1; sub
  return globalOp(w, 0x24, meter.depthGlobal).finish();
}

/** Rewrites a body (locals and code) according to its scan; `runs` hears of every copy. */
export function instrumentBody(
  body: Uint8Array,
  plan: BodyPlan,
  meter: Meter,
  runs?: CopiedRuns,
): Uint8Array {
  const reader = new ByteReader(body);
  const localGroups = reader.u32();
  const groupsStart = reader.offset;
  let declared = 0;
  for (let i = 0; i < localGroups; i++) {
    declared += reader.u32();
    const code = reader.byte();
    if (code === 0x63 || code === 0x64) reader.s33();
  }
  const codeStart = reader.offset;
  const scan = scanBody(body, codeStart, meter);
  const locals = body.subarray(groupsStart, codeStart);
  if (!scan.hasLoop && !scan.hasBulk) {
    return instrumentStraight(body, codeStart, localGroups, locals, scan, plan, meter, runs);
  }
  const firstFreeLocal = plan.params + declared;
  return new SegmentWriter(
    body,
    codeStart,
    localGroups,
    locals,
    scan,
    plan,
    meter,
    firstFreeLocal,
  ).finish(runs);
}

/** A function without loops or bulk operations: its whole weight on entry, on the global. */
function instrumentStraight(
  body: Uint8Array,
  codeStart: number,
  localGroups: number,
  locals: Uint8Array,
  scan: Scan,
  plan: BodyPlan,
  meter: Meter,
  runs: CopiedRuns | undefined,
): Uint8Array {
  const out = new ByteWriter().u32(localGroups).bytes(locals);
  globalOp(out, 0x23, meter.fuelGlobal).byte(0x42).s32(scan.weight).byte(0x7d); // const; sub
  globalOp(out, 0x24, meter.fuelGlobal);
  if (plan.exported || scan.makesCalls) {
    globalOp(out, 0x23, meter.fuelGlobal).byte(0x42).byte(0x00).byte(0x53); // i64.lt_s 0
    trapIf(out);
  }
  if (!scan.makesCalls) {
    copy(out, body, codeStart, body.byteLength, runs);
    return out.finish();
  }
  // Calls need the depth count, left on every exit: wrap the body so branches to it exit too.
  const leave = depthLeave(meter);
  out.bytes(depthEnter(meter)).byte(0x02).bytes(plan.blockType);
  const reader = new ByteReader(body, codeStart);
  let copied = codeStart;
  while (!reader.done) {
    const start = reader.offset;
    if (RETURN_OPCODES.has(skipInstruction(reader))) {
      copy(out, body, copied, start, runs);
      out.bytes(leave);
      copied = start;
    }
  }
  copy(out, body, copied, body.byteLength, runs);
  return out.bytes(leave).byte(0x0b).finish();
}

/** A segment's charge, filled in once the segment's cost is known. */
interface Charge {
  /** `entry` loads the global, `check` (a loop header) checks, `plain` only subtracts. */
  readonly kind: "entry" | "check" | "plain";
  cost: number;
}

/** A stretch of the original body, copied unchanged from `from`. */
interface Copy {
  readonly from: number;
  readonly bytes: Uint8Array;
}

/** An open structured instruction. */
interface Frame {
  readonly kind: "block" | "loop" | "if" | "other";
  /** The segment current when it opened (for an `if`: whether its arms started new ones). */
  readonly openedIn: Charge;
  /** True when a branch targets its label. */
  targeted: boolean;
}

/** Rewrites a function with loops or bulk operations into charged segments over a local. */
class SegmentWriter {
  private readonly parts: (Uint8Array | Charge | Copy)[] = [];
  private readonly frames: Frame[] = [];
  private readonly fuelLocal: number;
  private readonly scratchLocal: number;
  private readonly trapIfNegative: Uint8Array;
  private current: Charge = { kind: "entry", cost: 0 };
  private copied: number;

  constructor(
    private readonly body: Uint8Array,
    codeStart: number,
    localGroups: number,
    locals: Uint8Array,
    private readonly scan: Scan,
    private readonly plan: BodyPlan,
    private readonly meter: Meter,
    firstFreeLocal: number,
  ) {
    this.fuelLocal = firstFreeLocal;
    this.scratchLocal = firstFreeLocal + 1;
    const check = new ByteWriter().byte(0x22).u32(this.fuelLocal); // local.tee
    check.byte(0x42).byte(0x00).byte(0x53).byte(0x04).byte(0x40); // i64.const 0; lt_s; if
    check.byte(0x20).u32(this.fuelLocal); // the exhausted fuel, visible to the host
    globalOp(check, 0x24, meter.fuelGlobal).byte(0x00).byte(0x0b); // unreachable end
    this.trapIfNegative = check.finish();

    const header = new ByteWriter().u32(localGroups + (scan.hasBulk ? 2 : 1)).bytes(locals);
    header.u32(1).byte(I64);
    if (scan.hasBulk) header.u32(1).byte(I32);
    this.parts.push(header.finish(), this.current);
    if (scan.makesCalls) this.parts.push(depthEnter(meter));
    this.parts.push(Uint8Array.from([0x02, ...plan.blockType]));
    this.copied = codeStart;
    const reader = new ByteReader(body, codeStart);
    while (!reader.done) {
      const start = reader.offset;
      const op = skipInstruction(reader);
      this.instruction(op, start, reader.offset);
    }
    this.copyTo(body.byteLength);
    // The original final `end` now closes the wrapper block; run the exit code, then end.
    this.parts.push(this.exit(), Uint8Array.of(0x0b));
  }

  private copyTo(end: number): void {
    if (end > this.copied) {
      this.parts.push({ from: this.copied, bytes: this.body.subarray(this.copied, end) });
    }
    this.copied = end;
  }

  private startSegment(at: number, kind: "check" | "plain"): void {
    this.copyTo(at);
    this.current = { kind, cost: 0 };
    this.parts.push(this.current);
  }

  private markTarget(depth: number): void {
    const frame = this.frames[this.frames.length - 1 - depth];
    if (frame !== undefined) frame.targeted = true;
  }

  private instruction(op: number, start: number, end: number): void {
    const body = this.body;
    this.current.cost += instructionWeight(op);
    const bulk = bulkOperation(op, op === 0xfc ? readU32At(body, start + 1) : -1);
    if (bulk !== undefined) {
      // Charged from its operand before it runs, so a huge fill is refused, not performed.
      this.copyTo(start);
      this.parts.push(this.bulkCharge(bulkShift(bulk)));
    } else if (CALL_OPCODES.has(op) && !RETURN_OPCODES.has(op)) {
      if (!callsImport(body, start, op, this.meter)) {
        this.copyTo(start);
        this.parts.push(this.store());
        this.copyTo(end);
        this.parts.push(this.reload());
      }
    } else if (RETURN_OPCODES.has(op)) {
      this.copyTo(start);
      this.parts.push(this.exit());
    }
    this.control(op, start, end);
  }

  /** Tracks structure and starts the segments the rules in the file comment call for. */
  private control(op: number, start: number, end: number): void {
    const body = this.body;
    switch (op) {
      case 0x02: // block
        this.frames.push({ kind: "block", openedIn: this.current, targeted: false });
        return;
      case 0x04: // if
        this.frames.push({ kind: "if", openedIn: this.current, targeted: false });
        return;
      case 0x06: // try
      case 0x1f: // try_table
        this.frames.push({ kind: "other", openedIn: this.current, targeted: false });
        return;
      case Opcode.loop:
        this.frames.push({ kind: "loop", openedIn: this.current, targeted: false });
        this.startSegment(end, "check");
        return;
      case 0x0c: // br
      case 0x0d: // br_if
        this.markTarget(readU32At(body, start + 1));
        return;
      case 0x0e: {
        const reader = new ByteReader(body, start + 1);
        const count = reader.u32();
        for (let i = 0; i <= count; i++) this.markTarget(reader.u32());
        return;
      }
      case 0x05: {
        // else: the arm is reached by a jump from the `if`, past any segment the then-arm began.
        const frame = this.frames[this.frames.length - 1];
        if (frame !== undefined && frame.openedIn !== this.current) this.startSegment(end, "plain");
        return;
      }
      case 0x07: // catch
      case 0x19: // catch_all
        this.startSegment(end, "plain");
        return;
      case 0x0b:
      case 0x18: {
        // end, delegate
        const frame = this.frames.pop();
        if (frame === undefined) return; // the function's own end
        const join =
          frame.kind === "loop" ||
          frame.kind === "other" ||
          frame.targeted ||
          (frame.kind === "if" && frame.openedIn !== this.current);
        if (join) this.startSegment(end, "plain");
        return;
      }
      default:
        return;
    }
  }

  private store(): Uint8Array {
    const w = new ByteWriter().byte(0x20).u32(this.fuelLocal);
    return globalOp(w, 0x24, this.meter.fuelGlobal).finish();
  }

  private reload(): Uint8Array {
    const w = globalOp(new ByteWriter(), 0x23, this.meter.fuelGlobal);
    return w.byte(0x21).u32(this.fuelLocal).finish();
  }

  /** Before an exit: the global takes the local; exported functions also check it. */
  private exit(): Uint8Array {
    const w = new ByteWriter().bytes(this.store());
    if (this.plan.exported) {
      w.byte(0x20).u32(this.fuelLocal).byte(0x42).byte(0x00).byte(0x53); // lt_s 0
      trapIf(w);
    }
    if (this.scan.makesCalls) w.bytes(depthLeave(this.meter));
    return w.finish();
  }

  /**
   * Charges the i32 count on top of the stack (left in place for the operation), shifted left by
   * `shift` bits (right when negative), and traps when the fuel runs out.
   */
  private bulkCharge(shift: number): Uint8Array {
    const w = new ByteWriter().byte(0x22).u32(this.scratchLocal); // local.tee
    w.byte(0x20).u32(this.fuelLocal);
    w.byte(0x20).u32(this.scratchLocal).byte(0xad); // local.get; i64.extend_i32_u
    if (shift !== 0)
      w.byte(0x42)
        .s32(Math.abs(shift))
        .byte(shift > 0 ? 0x86 : 0x88); // shl/shr_u
    return w.byte(0x7d).bytes(this.trapIfNegative).finish(); // i64.sub
  }

  private chargeCode(charge: Charge): Uint8Array {
    const w = new ByteWriter();
    if (charge.kind === "entry") globalOp(w, 0x23, this.meter.fuelGlobal);
    else if (charge.cost === 0 && charge.kind === "plain") return new Uint8Array(0);
    else w.byte(0x20).u32(this.fuelLocal);
    w.byte(0x42).s32(charge.cost).byte(0x7d); // i64.const cost; i64.sub
    if (charge.kind === "plain") return w.byte(0x21).u32(this.fuelLocal).finish(); // local.set
    return w.bytes(this.trapIfNegative).finish();
  }

  finish(runs?: CopiedRuns): Uint8Array {
    const out = new ByteWriter();
    for (const part of this.parts) {
      if (part instanceof Uint8Array) out.bytes(part);
      else if ("from" in part) copy(out, this.body, part.from, part.from + part.bytes.length, runs);
      else out.bytes(this.chargeCode(part));
    }
    return out.finish();
  }
}
