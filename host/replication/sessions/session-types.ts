import type { Transition } from "../../runtime/engine.js";

/**
 * The value types of the replicated game sessions, shared by the sessions part (which applies
 * commands and holds the state), the facade (host/replication/console.ts) and the Sessions gRPC
 * service above it. Every array is owned by whoever received it (copies, never views into state).
 */

/** What one transition of a session showed: the result of the create's reset or of a step. */
export interface SessionTransition {
  /** The step index this transition leads to: 0 for the reset, n after the n-th action. */
  readonly step: number;
  /** The action that led here (empty for step 0). */
  readonly action: Uint8Array;
  readonly obs: Uint8Array;
  /** The reward of the player who acted (0 for step 0). */
  readonly reward: number;
  readonly terminated: boolean;
  readonly truncated: boolean;
  /** Who acts next; -1 once the episode is over. */
  readonly currentPlayer: number;
  /** One reward per player for this transition. */
  readonly playerRewards: Float32Array;
  /** Legal-action mask of the new state (one byte per action); empty for box spaces. */
  readonly legalMask: Uint8Array;
}

/** One session as held in the replicated state (identical on every replica at one index). */
export interface SessionView {
  /** "s", the log index of the create command, ".", its rank among the slot's creates: "s42.0". */
  readonly sessionId: string;
  readonly envId: string;
  /** The pinned build (hex sha256 of the module); hot reloads never change it. */
  readonly buildId: string;
  readonly seed: bigint;
  readonly hint: Uint8Array;
  /** The client id that created it (`ApplyContext.clientId`; "" for an anonymous proposal). */
  readonly owner: string;
  /** The current step index (number of actions applied). */
  readonly step: number;
  /** The current game state bytes. */
  readonly state: Uint8Array;
  /** The latest transition (step `step`). */
  readonly last: SessionTransition;
  /** Log index of the create command. */
  readonly createdIndex: number;
  /** Log index of the last create/step that changed it. */
  readonly lastActiveIndex: number;
  /** Leader-stamped time (ms since the epoch) of that command. */
  readonly lastActiveMs: number;
}

/** Whether a session's episode has ended (no step is accepted any more). */
export function episodeOver(view: { readonly last: SessionTransition }): boolean {
  return view.last.terminated || view.last.truncated;
}

/** Enough to re-simulate a session bit-identically with the stateless engine. */
export interface SessionExport {
  readonly sessionId: string;
  readonly envId: string;
  readonly buildId: string;
  readonly seed: bigint;
  readonly hint: Uint8Array;
  /** Every action applied, in order; `actions.length` is the session's step index. */
  readonly actions: readonly Uint8Array[];
}

/**
 * A local (not replicated) notification the sessions part emits after it applied a command:
 * subscribers (the facade's watch) see every applied create, step and close, in log order.
 */
export type SessionEvent =
  | {
      readonly kind: "transition";
      readonly sessionId: string;
      readonly index: number;
      readonly transition: SessionTransition;
    }
  | {
      readonly kind: "closed";
      readonly sessionId: string;
      readonly index: number;
      /** Why: the owner (or anyone) closed it, or it expired idle. */
      readonly reason: "closed" | "expired";
    }
  /** The whole state was replaced (a snapshot restored, or reset): no per-session events. */
  | { readonly kind: "restored" };

/** A runtime transition as the session's transition `step`, reached by `action`. */
export function toSessionTransition(
  transition: Transition,
  step: number,
  action: Uint8Array,
): SessionTransition {
  return {
    step,
    action: action.slice(),
    obs: transition.obs,
    reward: transition.reward,
    terminated: transition.terminated,
    truncated: transition.truncated,
    currentPlayer: transition.currentPlayer,
    playerRewards: transition.playerRewards,
    legalMask: transition.legalMask,
  };
}
