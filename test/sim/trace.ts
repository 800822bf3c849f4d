import { ballotOwner, ballotRound } from "../../host/consensus/core/ballot.js";
import type { Entry } from "../../host/consensus/core/entry.js";
import type { Message } from "../../host/consensus/core/messages.js";
import { valueKey } from "./cluster.js";

/** A ballot as `round.owner` ("-" for none), as scripted traces print it. */
export function formatBallot(ballot: number): string {
  return ballot === 0 ? "-" : `${ballotRound(ballot)}.${ballotOwner(ballot)}`;
}

function formatEntries(entries: readonly Entry[]): string {
  return `[${entries.map((e) => `${e.index}@${formatBallot(e.ballot)}=${valueKey(e.value)}`).join(" ")}]`;
}

/** One line per message, stable and short, for golden message traces. */
export function formatMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} b=${formatBallot(message.ballot)}`;
  switch (message.type) {
    case "preVote":
    case "heartbeat":
      return `${head} commit=${message.commitIndex}`;
    case "preVoteReply":
      return `${head} granted=${message.granted}`;
    case "prepare":
      return `${head} from=${message.fromIndex} commit=${message.commitIndex}`;
    case "promise":
      return `${head} from=${message.fromIndex} ${formatEntries(message.entries)} last=${message.lastIndex} commit=${message.commitIndex}`;
    case "accept":
      return `${head} ${formatEntries(message.entries)} commit=${message.commitIndex}`;
    case "accepted":
      return `${head} ${message.fromIndex}..${message.toIndex} commit=${message.commitIndex} last=${message.lastIndex}`;
    case "acceptGap":
    case "status":
      return `${head} commit=${message.commitIndex} last=${message.lastIndex}`;
    case "learn":
      return `${head} ${formatEntries(message.entries)}`;
    case "installSnapshot":
      return `${head} index=${message.index} bytes=${message.offset}..${message.offset + message.data.byteLength}/${message.totalBytes}${message.last ? " last" : ""}`;
    case "snapshotAck":
      return `${head} index=${message.index} offset=${message.offset}`;
    case "nack":
      return head;
  }
}
