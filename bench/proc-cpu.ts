import { readFileSync } from "node:fs";

/**
 * CPU time of another process, read from /proc (Linux): the whole process, and its main thread
 * alone (the thread whose id is the process id: Node's event loop, which serves gRPC). The rest
 * is worker threads and Node's own helper threads. Benchmarks report CPU per row rather than
 * wall time because the machine is shared and wall time is noisy.
 */
export interface ProcessCpu {
  readonly totalSeconds: number;
  readonly mainThreadSeconds: number;
}

/** Clock ticks per second of /proc stat fields (USER_HZ, 100 on every Linux Node supports). */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc stat line, in seconds (fields 14 and 15, after the command name). */
function statSeconds(path: string): number {
  const line = readFileSync(path, "utf8");
  // The command name may hold spaces and parentheses; the fields start after its last ')'.
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function processCpu(pid: number): ProcessCpu {
  return {
    totalSeconds: statSeconds(`/proc/${pid}/stat`),
    mainThreadSeconds: statSeconds(`/proc/${pid}/task/${pid}/stat`),
  };
}

/** CPU used between two readings. */
export function cpuSince(before: ProcessCpu, after: ProcessCpu): ProcessCpu {
  return {
    totalSeconds: after.totalSeconds - before.totalSeconds,
    mainThreadSeconds: after.mainThreadSeconds - before.mainThreadSeconds,
  };
}

/** Nanoseconds per row. */
export const nsPerRow = (seconds: number, rows: number): number => (seconds * 1e9) / rows;
