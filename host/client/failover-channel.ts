import { setTimeout as sleep } from "node:timers/promises";
import {
  type CallOptions,
  type ChannelOptions,
  Client,
  type ClientReadableStream,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { addToken, type ClientCredentialsOptions, channelCredentials } from "./credentials.js";

/** Trailing metadata of a refusal by a follower: where the leader serves ("host:port"). */
const LEADER_ADDRESS_KEY = "cartridge-leader-address";
const ERROR_CODE_KEY = "cartridge-error-code";
/** Typed codes of an outcome that is not known: a retry with the same ids learns it. */
const UNKNOWN_OUTCOME_CODES: ReadonlySet<string> = new Set(["Indeterminate", "Timeout"]);

/** First pause between two attempts after a refusal without a leader named, in ms. */
const FIRST_BACKOFF_MS = 25;
/** Longest pause between two attempts, in ms. */
const MAX_BACKOFF_MS = 1000;
/**
 * Most connections kept (one per node address); a cluster is smaller. Addresses come from the
 * servers' leader hints, so this bounds what a confused or hostile server can make a client open.
 */
const MAX_CONNECTIONS = 16;

/** How a client rides out a failover. */
export interface FailoverOptions {
  /**
   * Other nodes of the cluster ("host:port"), tried in turn when the current one cannot be reached
   * and names no leader. The first address given to the client is always tried first.
   */
  readonly endpoints?: readonly string[];
  /**
   * How long one operation may keep retrying through a failover (leader elections, a node going
   * down), in ms; default 30000. A call's own `timeoutMs` bounds it too.
   */
  readonly failoverTimeoutMs?: number;
  /** Deadline of each attempt, in ms; default 10000. */
  readonly attemptTimeoutMs?: number;
}

/** A method as the generated service definitions describe it. */
export interface MethodOf<Req, Res> {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/**
 * Whether an error is worth another attempt: UNAVAILABLE (a follower that cannot forward, a node
 * down, no leader yet) and an unknown outcome (DEADLINE_EXCEEDED typed `Indeterminate` or
 * `Timeout`, or an attempt's own deadline). Every call this channel makes is safe to repeat:
 * reads change nothing, and writes carry ids the cluster applies once.
 */
function retryable(error: ServiceError, typedCode: string | undefined): boolean {
  if (error.code === status.UNAVAILABLE) return true;
  if (error.code !== status.DEADLINE_EXCEEDED) return false;
  return typedCode === undefined || UNKNOWN_OUTCOME_CODES.has(typedCode);
}

function first(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Calls the nodes of a cluster as one service: each call goes to the node that answered last
 * (the leader, once one named it), and a failover is a pause, not an error. A refusal that names
 * the leader moves the channel there at once; one that does not (an election, a node down) is
 * retried with a growing pause, on the next endpoint when the node cannot be reached. Errors that
 * say something about the request itself (NOT_FOUND, FAILED_PRECONDITION, ...) are returned at
 * once. One grpc-js client per address, with the same credentials.
 */
export class FailoverChannel {
  private readonly clients = new Map<string, Client>();
  private readonly endpoints: string[];
  private current: string;
  /** How long one operation may keep retrying through a failover, in ms. */
  readonly failoverTimeoutMs: number;
  private readonly attemptTimeoutMs: number;

  constructor(
    address: string,
    private readonly credentials: ClientCredentialsOptions,
    private readonly channelOptions: ChannelOptions,
    options: FailoverOptions = {},
  ) {
    this.current = address;
    this.endpoints = [address, ...(options.endpoints ?? []).filter((a) => a !== address)];
    this.failoverTimeoutMs = options.failoverTimeoutMs ?? 30_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
  }

  /** The node calls go to now. */
  get address(): string {
    return this.current;
  }

  /**
   * One unary call, retried through a failover until `timeoutMs` (default: the failover timeout)
   * has passed; rejects with the last grpc-js `ServiceError`.
   */
  async unary<Req, Res>(
    method: MethodOf<Req, Res>,
    request: Req,
    settings: { readonly timeoutMs?: number; readonly requestId?: string } = {},
  ): Promise<Res> {
    const giveUpAt = Date.now() + (settings.timeoutMs ?? this.failoverTimeoutMs);
    for (let attempt = 0; ; attempt += 1) {
      const address = this.current;
      try {
        return await this.once(address, method, request, settings.requestId, giveUpAt);
      } catch (error) {
        await this.afterFailure(error, address, attempt, giveUpAt);
      }
    }
  }

  /**
   * A server stream on the current node. The caller resumes a broken stream itself (a watch knows
   * where it stopped) through `afterFailure`.
   */
  stream<Req, Res>(
    method: MethodOf<Req, Res>,
    request: Req,
    settings: { readonly requestId?: string } = {},
  ): ClientReadableStream<Res> {
    return this.client(this.current).makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      this.metadata(settings.requestId),
      {},
    );
  }

  /**
   * Decides what a failed attempt on `address` means: resolves after the pause before the next
   * attempt (having moved to the leader or the next endpoint), or rethrows `error` when it is not
   * worth retrying or `giveUpAt` has passed.
   */
  async afterFailure(
    error: unknown,
    address: string,
    attempt: number,
    giveUpAt: number,
  ): Promise<void> {
    const serviceError = error as ServiceError;
    if (!(error instanceof Error) || typeof serviceError.code !== "number") throw error;
    const typedCode = first(serviceError.metadata, ERROR_CODE_KEY);
    if (!retryable(serviceError, typedCode) || Date.now() >= giveUpAt) throw error;
    const leader = first(serviceError.metadata, LEADER_ADDRESS_KEY);
    if (leader !== undefined && leader !== address) {
      this.current = leader;
      return;
    }
    if (serviceError.code === status.UNAVAILABLE && this.current === address) {
      const at = this.endpoints.indexOf(address);
      this.current = this.endpoints[(at + 1) % this.endpoints.length] ?? address;
    }
    const pauseMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(attempt, 10));
    await sleep(Math.max(0, Math.min(pauseMs, giveUpAt - Date.now())));
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private once<Req, Res>(
    address: string,
    method: MethodOf<Req, Res>,
    request: Req,
    requestId: string | undefined,
    giveUpAt: number,
  ): Promise<Res> {
    const options: Partial<CallOptions> = {
      deadline: Math.min(giveUpAt, Date.now() + this.attemptTimeoutMs),
    };
    return new Promise<Res>((resolve, reject) => {
      this.client(address).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        this.metadata(requestId),
        options,
        (error, response) => {
          if (error) reject(error);
          else if (response === undefined) reject(new Error(`${method.path}: empty answer`));
          else resolve(response);
        },
      );
    });
  }

  private metadata(requestId: string | undefined): Metadata {
    const metadata = new Metadata();
    addToken(metadata, this.credentials);
    if (requestId !== undefined) metadata.set("x-request-id", requestId);
    return metadata;
  }

  private client(address: string): Client {
    let client = this.clients.get(address);
    if (client === undefined) {
      if (this.clients.size >= MAX_CONNECTIONS) {
        // The oldest connection goes (Map order is insertion order).
        const [oldest, stale] = this.clients.entries().next().value ?? [];
        stale?.close();
        if (oldest !== undefined) this.clients.delete(oldest);
      }
      client = new Client(address, channelCredentials(this.credentials), this.channelOptions);
      this.clients.set(address, client);
    }
    return client;
  }
}
