import { boundForMessage } from "./errors.js";
import { ByteReader, type Section, SectionId } from "./wasm-binary.js";

/**
 * A small decoder of the source maps AssemblyScript writes next to a debug build (`cartridge build
 * --debug`): source map version 3 (https://sourcemaps.info/spec.html), where a WebAssembly module
 * is one generated line whose columns are byte offsets in the module. No dependency, because the
 * host only ever asks one question: which source line an offset of the original module came from.
 *
 * Lazy and bounded: nothing is decoded until a trap asks (then the first line's segments, once,
 * into typed arrays), the text is refused past `MAX_SOURCE_MAP_BYTES`, and the file names it
 * returns are cut to `MAX_SOURCE_NAME_CHARS`.
 */

/** Largest source map the host reads or keeps, in bytes (UTF-16 units of its text). */
export const MAX_SOURCE_MAP_BYTES = 8 * 1024 * 1024;
/** Most characters of a source file name kept in a location. */
export const MAX_SOURCE_NAME_CHARS = 160;
/** Most source files a map may list. */
const MAX_SOURCES = 65_536;

/** A position in a source file, 1-based as editors and AssemblyScript's own messages show it. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Thrown for text that is not a source map this decoder understands. */
export class SourceMapError extends Error {
  override readonly name = "SourceMapError";
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) BASE64_VALUE[BASE64.charCodeAt(i)] = i;

/** The decoded segments of the first generated line, sorted by generated column. */
interface Segments {
  readonly generated: Float64Array;
  readonly source: Uint32Array;
  readonly line: Uint32Array;
  readonly column: Uint32Array;
  readonly count: number;
}

/** A parsed source map whose mappings are decoded on the first lookup. */
export class SourceMap {
  private segments: Segments | undefined;

  private constructor(
    private readonly sources: readonly string[],
    private readonly mappings: string,
  ) {}

  /** Parses the JSON text; throws `SourceMapError` when it is too large or not version 3. */
  static parse(text: string): SourceMap {
    if (text.length > MAX_SOURCE_MAP_BYTES) {
      throw new SourceMapError(`source map is larger than ${MAX_SOURCE_MAP_BYTES} bytes`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new SourceMapError(`source map is not JSON: ${String(cause)}`);
    }
    const map = json as {
      version?: unknown;
      sources?: unknown;
      sourceRoot?: unknown;
      mappings?: unknown;
    };
    if (typeof json !== "object" || json === null || map.version !== 3) {
      throw new SourceMapError("not a version 3 source map");
    }
    if (!Array.isArray(map.sources) || typeof map.mappings !== "string") {
      throw new SourceMapError("source map without sources or mappings");
    }
    if (map.sources.length > MAX_SOURCES) {
      throw new SourceMapError(`source map lists more than ${MAX_SOURCES} sources`);
    }
    const root = typeof map.sourceRoot === "string" && map.sourceRoot !== "" ? map.sourceRoot : "";
    const prefix = root === "" || root.endsWith("/") ? root : `${root}/`;
    const sources = map.sources.map((s: unknown) =>
      boundForMessage(`${prefix}${typeof s === "string" ? s : "?"}`, MAX_SOURCE_NAME_CHARS),
    );
    return new SourceMap(sources, map.mappings);
  }

  /**
   * The source position of the last mapping at or before byte `offset` of the module (the
   * instruction that contains it), or undefined when none precedes it or it has no source.
   */
  lookup(offset: number): SourceLocation | undefined {
    this.segments ??= decodeFirstLine(this.mappings, this.sources.length);
    const s = this.segments;
    let lo = 0;
    let hi = s.count - 1;
    if (hi < 0 || (s.generated[0] as number) > offset) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((s.generated[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const file = this.sources[s.source[lo] as number];
    if (file === undefined) return undefined;
    return { file, line: (s.line[lo] as number) + 1, column: (s.column[lo] as number) + 1 };
  }
}

/** Reads base64 VLQ numbers from a string, one segment field at a time. */
class VlqReader {
  index = 0;

  constructor(private readonly text: string) {}

  /** True at the end of a segment (a comma, a semicolon or the end). */
  get atSegmentEnd(): boolean {
    const c = this.text.charCodeAt(this.index);
    return Number.isNaN(c) || c === 44 || c === 59;
  }

  next(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const code = this.text.charCodeAt(this.index++);
      const digit = code < 128 ? (BASE64_VALUE[code] as number) : -1;
      if (digit < 0) throw new SourceMapError(`bad VLQ character at ${this.index - 1}`);
      result += (digit & 31) * 2 ** shift;
      if ((digit & 32) === 0) break;
      shift += 5;
      if (shift > 30) throw new SourceMapError(`VLQ number too long at ${this.index}`);
    }
    const magnitude = Math.floor(result / 2);
    return result % 2 === 1 ? -magnitude : magnitude;
  }
}

/**
 * Decodes the segments of the first generated line (a module's only one) into typed arrays, keeping
 * those with a source, sorted by generated column.
 */
function decodeFirstLine(mappings: string, sourceCount: number): Segments {
  const end = mappings.indexOf(";");
  const line = end < 0 ? mappings : mappings.slice(0, end);
  // Every segment takes at least two characters with its separator: this bounds the arrays.
  const capacity = Math.ceil(line.length / 2) + 1;
  const generated = new Float64Array(capacity);
  const source = new Uint32Array(capacity);
  const sourceLine = new Uint32Array(capacity);
  const column = new Uint32Array(capacity);
  const reader = new VlqReader(line);
  const state = { generated: 0, source: 0, line: 0, column: 0 };
  let count = 0;
  let sorted = true;
  while (reader.index < line.length) {
    if (line.charCodeAt(reader.index) === 44) {
      reader.index++;
      continue;
    }
    state.generated += reader.next();
    if (reader.atSegmentEnd) continue;
    state.source += reader.next();
    state.line += reader.next();
    state.column += reader.next();
    if (!reader.atSegmentEnd) reader.next(); // a name index: not used
    if (!reader.atSegmentEnd)
      throw new SourceMapError(`segment with too many fields at ${reader.index}`);
    if (state.source < 0 || state.source >= sourceCount || state.line < 0 || state.column < 0) {
      throw new SourceMapError(`segment out of range at ${reader.index}`);
    }
    if (count > 0 && state.generated < (generated[count - 1] as number)) sorted = false;
    generated[count] = state.generated;
    source[count] = state.source;
    sourceLine[count] = state.line;
    column[count] = state.column;
    count++;
  }
  const segments = { generated, source, line: sourceLine, column, count };
  return sorted ? segments : sortSegments(segments);
}

function sortSegments(s: Segments): Segments {
  const order = Array.from({ length: s.count }, (_, i) => i).sort(
    (a, b) => (s.generated[a] as number) - (s.generated[b] as number) || a - b,
  );
  return {
    generated: Float64Array.from(order, (i) => s.generated[i] as number),
    source: Uint32Array.from(order, (i) => s.source[i] as number),
    line: Uint32Array.from(order, (i) => s.line[i] as number),
    column: Uint32Array.from(order, (i) => s.column[i] as number),
    count: s.count,
  };
}

/** Name of the custom section that points a module at its source map. */
export const SOURCE_MAPPING_URL_SECTION = "sourceMappingURL";

/** The `sourceMappingURL` a module declares in its custom section, if any. */
export function sourceMappingUrl(sections: readonly Section[]): string | undefined {
  for (const section of sections) {
    if (section.id !== SectionId.custom) continue;
    try {
      const reader = new ByteReader(section.payload);
      if (reader.name() !== SOURCE_MAPPING_URL_SECTION) continue;
      return boundForMessage(reader.name(), MAX_SOURCE_NAME_CHARS);
    } catch {
      // A custom section with a malformed name is not ours to judge.
    }
  }
  return undefined;
}

/**
 * `text` when it is a usable source map for a module with these sections: the module must
 * declare a `sourceMappingURL` (a release build beside a stale debug map has none) and the text
 * must parse. Undefined otherwise; a map only ever adds source lines.
 */
export function acceptedSourceMap(
  sections: readonly Section[],
  text: string | undefined,
): string | undefined {
  if (text === undefined || sourceMappingUrl(sections) === undefined) return undefined;
  try {
    SourceMap.parse(text);
    return text;
  } catch {
    return undefined;
  }
}
