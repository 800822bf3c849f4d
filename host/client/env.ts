import type {
  Capabilities,
  ResetResponse,
  StepResponse,
} from "../proto/generated/engine/v1/engine.js";
import { type Action, decodeObs, encodeAction, type Observation } from "./codec.js";
import type { CallSettings, EngineClient } from "./engine-client.js";

/** Everything about a transition that is not the observation or the reward. */
export interface StepInfo {
  /** Who acts next; -1 once the episode is over. */
  readonly currentPlayer: number;
  /** Legal-action mask of the new state (1 = legal); empty for box spaces. */
  readonly legalMask: Uint8Array;
  /** Reward of every player for this transition (zeros after reset). */
  readonly playerRewards: Float32Array;
  /** The state bytes after the transition (opaque; the Env keeps them for the next step). */
  readonly state: Uint8Array;
  /** The build the episode runs on. */
  readonly buildId: string;
}

export interface ResetResult {
  readonly obs: Observation;
  readonly info: StepInfo;
}

export interface StepResult {
  readonly obs: Observation;
  readonly reward: number;
  /** The episode ended by the rules of the game. */
  readonly terminated: boolean;
  /** The episode ended only because of a step limit. */
  readonly truncated: boolean;
  readonly info: StepInfo;
}

/**
 * A Gymnasium-like handle on one env of a remote server. The service is stateless, so the handle
 * keeps the current state bytes and sends them with every step; `reset` pins the build that
 * served it so an episode never straddles a hot reload.
 */
export class Env {
  private state: Uint8Array | undefined;
  private buildId = "";
  private caps: Capabilities;

  constructor(
    private readonly client: EngineClient,
    capabilities: Capabilities,
  ) {
    this.caps = capabilities;
  }

  /** The env's capabilities (spaces, sizes, encodings) for the build in use. */
  get capabilities(): Capabilities {
    return this.caps;
  }

  get envId(): string {
    return this.caps.id?.envId ?? "";
  }

  /** Starts an episode. `seed` defaults to 0; the same seed always gives the same episode. */
  async reset(
    options: { seed?: bigint | number; hint?: Uint8Array } & CallSettings = {},
  ): Promise<ResetResult> {
    const response: ResetResponse = await this.client.reset(this.envId, options.seed ?? 0, {
      ...options,
    });
    const buildId = response.id?.buildId ?? "";
    if (buildId !== this.caps.id?.buildId) {
      // The server moved to a new build since `make`; decode with that build's capabilities.
      this.caps = await this.client.capabilities(this.envId, buildId, options);
    }
    this.buildId = buildId;
    this.state = response.state;
    return {
      obs: decodeObs(this.caps, response.obs),
      info: {
        currentPlayer: response.currentPlayer,
        legalMask: response.legalMask,
        playerRewards: new Float32Array(this.caps.players),
        state: response.state,
        buildId,
      },
    };
  }

  /** Applies `action` to the current state. Throws `EngineCallError` (e.g. EpisodeOver). */
  async step(action: Action, settings: CallSettings = {}): Promise<StepResult> {
    if (this.state === undefined) throw new Error(`call reset() before step() on ${this.envId}`);
    const response: StepResponse = await this.client.step(
      this.envId,
      this.state,
      encodeAction(this.caps, action),
      { ...settings, buildId: this.buildId },
    );
    this.state = response.state;
    return {
      obs: decodeObs(this.caps, response.obs),
      reward: response.reward,
      terminated: response.terminated,
      truncated: response.truncated,
      info: {
        currentPlayer: response.currentPlayer,
        legalMask: response.legalMask,
        playerRewards: Float32Array.from(response.playerRewards),
        state: response.state,
        buildId: this.buildId,
      },
    };
  }
}
