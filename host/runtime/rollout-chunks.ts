import type { BuildRef, RolloutChunk } from "./engine.js";
import type { InfoColumns } from "./info-record.js";

/** One episode's rows, already copied out of linear memory. */
export interface EpisodeRows {
  readonly episode: number;
  readonly rows: number;
  readonly actions: Uint8Array;
  readonly states: Uint8Array;
  readonly obs: Uint8Array;
  readonly info: InfoColumns;
}

function concat<T extends Uint8Array | Int8Array | Float32Array>(
  parts: readonly T[],
  make: (length: number) => T,
): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part as never, at);
    at += part.length;
  }
  return out;
}

/** Joins whole episodes into one packed chunk. */
export function joinEpisodes(build: BuildRef, episodes: readonly EpisodeRows[]): RolloutChunk {
  const rows = episodes.reduce((n, e) => n + e.rows, 0);
  const episodeColumn = new Uint32Array(rows);
  const stepColumn = new Uint32Array(rows);
  let at = 0;
  for (const e of episodes) {
    for (let t = 0; t < e.rows; t++) {
      episodeColumn[at] = e.episode;
      stepColumn[at] = t;
      at++;
    }
  }
  return {
    build,
    rows,
    episodes: episodeColumn,
    steps: stepColumn,
    actions: concat(
      episodes.map((e) => e.actions),
      (n) => new Uint8Array(n),
    ),
    states: concat(
      episodes.map((e) => e.states),
      (n) => new Uint8Array(n),
    ),
    obs: concat(
      episodes.map((e) => e.obs),
      (n) => new Uint8Array(n),
    ),
    rewards: concat(
      episodes.map((e) => e.info.rewards),
      (n) => new Float32Array(n),
    ),
    flags: concat(
      episodes.map((e) => e.info.flags),
      (n) => new Uint8Array(n),
    ),
    currentPlayers: concat(
      episodes.map((e) => e.info.currentPlayers),
      (n) => new Int8Array(n),
    ),
    playerRewards: concat(
      episodes.map((e) => e.info.playerRewards),
      (n) => new Float32Array(n),
    ),
  };
}
