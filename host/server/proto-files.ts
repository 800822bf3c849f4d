import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Path of the Engine service's .proto inside the proto root. */
export const ENGINE_PROTO_FILE = "engine/v1/engine.proto";

/**
 * Finds the repository's `proto/` folder by walking up from this module. The walk is needed
 * because this file runs both from source (host/server) and compiled (dist/host/server), at
 * different depths.
 */
export function findProtoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, ENGINE_PROTO_FILE))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find proto/${ENGINE_PROTO_FILE} above ${start}`);
    }
    dir = parent;
  }
}
