/**
 * Where the host puts inputs and outputs inside a cartridge's exchange region. Every array starts
 * 4-byte aligned (docs/abi.md, section 2) and the single-call, batch and rollout layouts each
 * start at the beginning of the region: only one call runs at a time, so they may overlap.
 */

/** Sizes of one env's records, from the manifest. */
export interface RecordSizes {
  readonly stateBytes: number;
  readonly actionBytes: number;
  readonly obsBytes: number;
  readonly infoBytes: number;
  readonly hintMaxBytes: number;
  readonly legalMaskBytes: number;
}

/** Absolute addresses for one reset / step / legal-actions call. */
export interface SingleLayout {
  readonly hint: number;
  readonly state: number;
  readonly action: number;
  readonly stateOut: number;
  readonly obs: number;
  readonly info: number;
  readonly mask: number;
  readonly end: number;
}

/** Absolute addresses of packed arrays for `capacity` envs or steps. */
export interface ArrayLayout {
  readonly capacity: number;
  readonly states: number;
  readonly actions: number;
  readonly statesOut: number;
  readonly obs: number;
  readonly infos: number;
  readonly end: number;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Lays out `sizes` one after the other from `base`, each start aligned to 4. */
function pack(base: number, sizes: readonly number[]): number[] {
  const starts: number[] = [];
  let at = base;
  for (const size of sizes) {
    starts.push(at);
    at = align4(at + size);
  }
  starts.push(at);
  return starts;
}

export function singleLayout(base: number, s: RecordSizes): SingleLayout {
  const [hint, state, action, stateOut, obs, info, mask, end] = pack(base, [
    s.hintMaxBytes,
    s.stateBytes,
    s.actionBytes,
    s.stateBytes,
    s.obsBytes,
    s.infoBytes,
    s.legalMaskBytes,
  ]) as [number, number, number, number, number, number, number, number];
  return { hint, state, action, stateOut, obs, info, mask, end };
}

/** Layout of a batch step of `count` envs (separate input and output states). */
export function batchLayout(base: number, s: RecordSizes, count: number): ArrayLayout {
  const [states, actions, statesOut, obs, infos, end] = pack(base, [
    count * s.stateBytes,
    count * s.actionBytes,
    count * s.stateBytes,
    count * s.obsBytes,
    count * s.infoBytes,
  ]) as [number, number, number, number, number, number];
  return { capacity: count, states, actions, statesOut, obs, infos, end };
}

/** Layout of a rollout of up to `steps` steps (`states` and `statesOut` coincide). */
export function rolloutLayout(base: number, s: RecordSizes, steps: number): ArrayLayout {
  const [actions, states, obs, infos, end] = pack(base, [
    steps * s.actionBytes,
    steps * s.stateBytes,
    steps * s.obsBytes,
    steps * s.infoBytes,
  ]) as [number, number, number, number, number];
  return { capacity: steps, states, actions, statesOut: states, obs, infos, end };
}

/** Largest `n` in `1..limit` with `layout(n).end <= regionEnd`, or 0 when even 1 does not fit. */
export function largestFitting(
  limit: number,
  regionEnd: number,
  layout: (n: number) => { end: number },
): number {
  let low = 0;
  let high = limit;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (layout(mid).end <= regionEnd) low = mid;
    else high = mid - 1;
  }
  return low;
}
