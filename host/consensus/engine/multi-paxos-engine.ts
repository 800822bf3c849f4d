import { type DriverOptions, ReplicaDriver } from "./driver.js";

export type { EngineHooks } from "./driver.js";

/** How a Multi-Paxos engine is wired: identity, adapters, limits (see {@link DriverOptions}). */
export type MultiPaxosEngineOptions = DriverOptions;

/**
 * A replica of a Multi-Paxos cluster: the shared {@link ReplicaDriver} over a real transport.
 * Everything (Ready cycle, apply, snapshots, failures) lives in the driver, so this engine and
 * {@link SingleNodeEngine} cannot drift apart.
 */
export class MultiPaxosEngine extends ReplicaDriver {}
