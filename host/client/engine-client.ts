import {
  type CallOptions,
  type ChannelOptions,
  type ClientReadableStream,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import type {
  BatchSimulateRequest,
  Capabilities,
  EngineClient as GeneratedEngineClient,
  ResetResponse,
  SimResultChunk,
  StepResponse,
} from "../proto/generated/engine/v1/engine.js";
import {
  type Build,
  type ListBuildsResponse,
  ManifestService,
} from "../proto/generated/manifest/v1/manifest.js";
import type { Session as SessionMessage } from "../proto/generated/sessions/v1/sessions.js";
import { type DecodedChunk, decodeChunk } from "./batch.js";
import { ViewingEngineClient } from "./chunk-decoder.js";
import { toSeed } from "./codec.js";
import { addToken, type ClientCredentialsOptions, channelCredentials } from "./credentials.js";
import { Env } from "./env.js";
import { toEngineCallError } from "./errors.js";
import { FailoverChannel, type FailoverOptions } from "./failover-channel.js";
import { GameSession } from "./session.js";
import {
  SESSIONS_METHODS,
  type SessionCallSettings,
  type SessionPage,
  SessionsApi,
  toSessionInfo,
  wireNumber,
} from "./sessions.js";

/**
 * Options of `EngineClient.connect`; credentials (token, TLS) as in `ClientCredentialsOptions`,
 * failover of the session calls as in `FailoverOptions`.
 */
export interface ConnectOptions extends ClientCredentialsOptions, FailoverOptions {
  /** Largest message the client accepts, in bytes; default 64 MiB (BatchSimulate chunks). */
  readonly maxReceiveMessageBytes?: number;
  /**
   * HTTP/2 receive window per stream and connection, in bytes; default 4 MiB. The protocol's
   * 64 KiB default makes a BatchSimulate stream wait for a window update every few rows; a larger
   * window keeps the pipe full. It is also the most a paused stream can have in flight.
   */
  readonly flowControlWindowBytes?: number;
  /** How long `connect` waits for the server, in ms; default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * The client id of this client's session writes (1 to 128 bytes; it owns the sessions it
   * creates); default a random UUID. Never share one between two live clients.
   */
  readonly clientId?: string;
}

/** Options of `EngineClient.session`. */
export interface CreateSessionOptions extends SessionCallSettings {
  /** Seed of the reset; default 0. */
  readonly seed?: bigint | number;
  /** Pin a build; default the env's current build. */
  readonly buildId?: string;
  /** Reset hint. */
  readonly hint?: Uint8Array;
}

/** Per-call options. */
export interface CallSettings {
  /** Deadline of the call in ms from now. */
  readonly timeoutMs?: number;
  /** Request id to log under on the server (x-request-id). */
  readonly requestId?: string;
}

/** A BatchSimulate call as the client describes it. */
export interface BatchSimulateOptions extends CallSettings {
  readonly envId: string;
  /** Pin a build; default: the server's current build (fixed for the whole call). */
  readonly buildId?: string;
  /** Vector step: `states` and `actions` packed back to back. */
  readonly vector?: { readonly states: Uint8Array; readonly actions: Uint8Array };
  /** Rollouts: episode i is seeded seed + i. */
  readonly rollouts?: {
    readonly seed: bigint | number;
    readonly episodes: number;
    /** Per-episode step cap; default max_horizon. */
    readonly stepCap?: number;
    readonly includeObs?: boolean;
    readonly includeStates?: boolean;
  };
  /** Soft upper bound on rows per chunk (the server caps it). */
  readonly chunkRows?: number;
}

type Callback<T> = (error: ServiceError | null, response: T) => void;

/** The Manifest methods the client calls through the failover channel. */
const MANIFEST_METHODS = {
  deploy: ManifestService.deploy,
  listBuilds: ManifestService.listBuilds,
} as const;

function channelOptionsOf(options: ConnectOptions): ChannelOptions {
  return {
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc-node.flow_control_window": options.flowControlWindowBytes ?? 4 * 1024 * 1024,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A TypeScript client of the Engine service with a Gymnasium-like surface: `make(envId)` returns
 * an `Env` with `reset`/`step`, and `batchSimulate` is an async iterator of decoded chunks. Errors
 * are `EngineCallError`s carrying the gRPC status and the server's typed error code.
 */
export class EngineClient {
  private readonly capsCache = new Map<string, Capabilities>();
  /**
   * Calls in flight. grpc-js lets them run on after the channel is closed, so `close()` cancels
   * them itself: otherwise a BatchSimulate stream would keep the server simulating for nobody.
   */
  private readonly inFlight = new Set<{ cancel(): void }>();

  /** The session side, made on first use. */
  private sessionsApi: SessionsApi | undefined;

  private constructor(
    /** The generated grpc-js client, for calls this wrapper does not cover. */
    readonly raw: GeneratedEngineClient,
    private readonly credentialsOptions: ClientCredentialsOptions = {},
    private readonly address = "",
    private readonly connectOptions: ConnectOptions = {},
  ) {}

  /**
   * Connects to `address` ("host:port"), over TLS when `options.tls` is given, and waits until the
   * channel is ready. A `token` is sent with every call.
   */
  static async connect(address: string, options: ConnectOptions = {}): Promise<EngineClient> {
    const raw = new ViewingEngineClient(
      address,
      channelCredentials(options),
      channelOptionsOf(options),
    );
    const deadline = Date.now() + (options.connectTimeoutMs ?? 5000);
    await new Promise<void>((resolve, reject) => {
      raw.waitForReady(deadline, (error) => {
        if (error) {
          raw.close();
          reject(new Error(`cannot reach the Engine service at ${address}: ${error.message}`));
        } else resolve();
      });
    });
    return new EngineClient(raw, { token: options.token }, address, options);
  }

  private sessions(): SessionsApi {
    this.sessionsApi ??= new SessionsApi(
      new FailoverChannel(
        this.address,
        this.connectOptions,
        channelOptionsOf(this.connectOptions),
        this.connectOptions,
      ),
      this.connectOptions.clientId,
    );
    return this.sessionsApi;
  }

  /**
   * Creates a game session held (and replicated) by the server: the env is reset with the seed on
   * every node. The handle's `step` sends actions; others can `attachSession` to it by id.
   */
  async session(envId: string, options: CreateSessionOptions = {}): Promise<GameSession> {
    const api = this.sessions();
    const seed = toSeed(options.seed ?? 0);
    const response = await api.write(
      SESSIONS_METHODS.create,
      (ids) => ({
        ...ids,
        envId,
        buildId: options.buildId ?? "",
        seed,
        hint: toBuffer(options.hint ?? new Uint8Array(0)),
      }),
      options,
    );
    if (response.session === undefined) throw new Error("CreateSession answered no session");
    return this.handle(api, response.session, wireNumber(response.index), options);
  }

  /** A handle on an existing session (a second player, a spectator), at its current step. */
  async attachSession(sessionId: string, settings: SessionCallSettings = {}): Promise<GameSession> {
    const api = this.sessions();
    const response = await api.read(
      SESSIONS_METHODS.get,
      { sessionId, minAppliedIndex: 0n },
      settings,
    );
    if (response.session === undefined) throw new Error("GetSession answered no session");
    return this.handle(api, response.session, 0, settings);
  }

  /** A page of open sessions, in creation order (`owner`: only those a client id created). */
  async listSessions(
    options: { owner?: string; pageSize?: number; pageToken?: string } & SessionCallSettings = {},
  ): Promise<SessionPage> {
    const response = await this.sessions().read(
      SESSIONS_METHODS.list,
      {
        owner: options.owner ?? "",
        pageSize: options.pageSize ?? 0,
        pageToken: options.pageToken ?? "",
        minAppliedIndex: 0n,
      },
      options,
    );
    return {
      sessions: response.sessions.map((session) => toSessionInfo(session, undefined)),
      nextPageToken: response.nextPageToken,
    };
  }

  /**
   * Deploys a cartridge to the cluster (the Manifest service; needs the `admin` role): the node
   * validates it, then every node installs it. Follows the leader like the session calls. Returns
   * the installed build and the log index it was committed at.
   */
  async deploy(
    module: Uint8Array,
    options: { makeCurrent?: boolean; sha256?: string } & SessionCallSettings = {},
  ): Promise<{ build: Build; index: number }> {
    const response = await this.sessions().write(
      MANIFEST_METHODS.deploy,
      (ids) => ({
        ...ids,
        module: toBuffer(module),
        makeCurrent: options.makeCurrent ?? true,
        sha256: options.sha256 ?? "",
      }),
      options,
    );
    if (response.build === undefined) throw new Error("Deploy answered no build");
    return { build: response.build, index: wireNumber(response.index) };
  }

  /** The builds every node serves (of `envId`, or all), and the envs' allow-lists. */
  async listBuilds(
    options: { envId?: string; minAppliedIndex?: number } & SessionCallSettings = {},
  ): Promise<ListBuildsResponse> {
    return this.sessions().read(
      MANIFEST_METHODS.listBuilds,
      { envId: options.envId ?? "", minAppliedIndex: BigInt(options.minAppliedIndex ?? 0) },
      options,
    );
  }

  /** The client id of this client's session and manifest writes. */
  get clientId(): string {
    return this.sessions().clientId;
  }

  private async handle(
    api: SessionsApi,
    message: SessionMessage,
    index: number,
    settings: SessionCallSettings,
  ): Promise<GameSession> {
    const caps = await api.capabilities(message.envId, message.buildId, settings);
    return new GameSession(api, toSessionInfo(message, caps), caps, index);
  }

  private callOptions(settings: CallSettings): [Metadata, Partial<CallOptions>] {
    const metadata = new Metadata();
    addToken(metadata, this.credentialsOptions);
    if (settings.requestId !== undefined) metadata.set("x-request-id", settings.requestId);
    const options: Partial<CallOptions> = {};
    if (settings.timeoutMs !== undefined) options.deadline = Date.now() + settings.timeoutMs;
    return [metadata, options];
  }

  private unary<Req, Res>(
    method: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown,
    request: Req,
    settings: CallSettings,
  ): Promise<Res> {
    const [metadata, options] = this.callOptions(settings);
    return new Promise<Res>((resolve, reject) => {
      let call: { cancel(): void } | undefined;
      call = method.call(
        this.raw,
        request,
        metadata,
        options,
        (error: ServiceError | null, res: Res) => {
          if (call !== undefined) this.inFlight.delete(call);
          call = undefined;
          if (error) reject(toEngineCallError(error));
          else resolve(res);
        },
      ) as { cancel(): void };
      this.inFlight.add(call);
    });
  }

  /** Capabilities of every env the server serves, sorted by env id. */
  async listEnvs(settings: CallSettings = {}): Promise<Capabilities[]> {
    const response = await this.unary(this.raw.listEnvs, {}, settings);
    for (const caps of response.envs) this.remember(caps);
    return response.envs;
  }

  /** Capabilities of one env (its current build, or `buildId`). */
  async capabilities(
    envId: string,
    buildId = "",
    settings: CallSettings = {},
  ): Promise<Capabilities> {
    const cached = buildId === "" ? undefined : this.capsCache.get(`${envId}@${buildId}`);
    if (cached !== undefined) return cached;
    const caps = await this.unary(this.raw.getCapabilities, { envId, buildId }, settings);
    this.remember(caps);
    return caps;
  }

  private remember(caps: Capabilities): void {
    if (caps.id !== undefined) this.capsCache.set(`${caps.id.envId}@${caps.id.buildId}`, caps);
  }

  /**
   * Raw Reset: the response bytes as the server sent them. Throws a RangeError for a seed outside
   * [0, 2^64).
   */
  async reset(
    envId: string,
    seed: bigint | number,
    options: { buildId?: string; hint?: Uint8Array } & CallSettings = {},
  ): Promise<ResetResponse> {
    return this.unary(
      this.raw.reset,
      {
        id: { envId, buildId: options.buildId ?? "" },
        seed: toSeed(seed),
        hint: toBuffer(options.hint ?? new Uint8Array(0)),
      },
      options,
    );
  }

  /** Raw Step: state and action bytes in, the next state and its details out. */
  step(
    envId: string,
    state: Uint8Array,
    action: Uint8Array,
    options: { buildId?: string } & CallSettings = {},
  ): Promise<StepResponse> {
    return this.unary(
      this.raw.step,
      {
        id: { envId, buildId: options.buildId ?? "" },
        state: toBuffer(state),
        action: toBuffer(action),
      },
      options,
    );
  }

  /** A Gymnasium-like env handle; it keeps the state bytes between steps (the service is stateless). */
  async make(envId: string, settings: CallSettings = {}): Promise<Env> {
    return new Env(this, await this.capabilities(envId, "", settings));
  }

  /**
   * Runs a BatchSimulate call and yields decoded chunks as they arrive. Reading slowly is fine:
   * the server stops producing while this iterator is not pulled. Leaving the loop early cancels
   * the call on the server.
   */
  async *batchSimulate(options: BatchSimulateOptions): AsyncGenerator<DecodedChunk, void, void> {
    if (options.vector !== undefined && options.rollouts !== undefined) {
      throw new TypeError("batchSimulate takes either vector or rollouts, not both");
    }
    const request: BatchSimulateRequest = {
      id: { envId: options.envId, buildId: options.buildId ?? "" },
      mode: undefined,
      chunkRows: options.chunkRows ?? 0,
    };
    if (options.vector !== undefined) {
      request.mode = {
        $case: "vector",
        value: {
          states: toBuffer(options.vector.states),
          actions: toBuffer(options.vector.actions),
          autoreset: false,
          autoresetSeed: 0n,
        },
      };
    } else if (options.rollouts !== undefined) {
      const r = options.rollouts;
      request.mode = {
        $case: "rollouts",
        value: {
          seed: toSeed(r.seed),
          episodes: r.episodes,
          stepCap: r.stepCap ?? 0,
          includeObs: r.includeObs ?? false,
          includeStates: r.includeStates ?? false,
        },
      };
    }
    const [metadata, callOptions] = this.callOptions(options);
    const call: ClientReadableStream<SimResultChunk> = this.raw.batchSimulate(
      request,
      metadata,
      callOptions,
    );
    this.inFlight.add(call);
    let caps: Capabilities | undefined;
    try {
      for await (const message of call as AsyncIterable<SimResultChunk>) {
        const buildId = message.id?.buildId ?? "";
        if (caps === undefined || caps.id?.buildId !== buildId) {
          caps = await this.capabilities(options.envId, buildId, options);
        }
        yield decodeChunk(caps, message);
      }
    } catch (error) {
      throw toEngineCallError(error);
    } finally {
      // A consumer that stops early must not leave the server simulating for nobody.
      this.inFlight.delete(call);
      call.cancel();
    }
  }

  /** The underlying grpc-js call for BatchSimulate, undecoded (for tools and tests). */
  rawBatchSimulate(
    request: BatchSimulateRequest,
    settings: CallSettings = {},
  ): ClientReadableStream<SimResultChunk> {
    const [metadata, options] = this.callOptions(settings);
    const call = this.raw.batchSimulate(request, metadata, options);
    this.inFlight.add(call);
    call.on("status", () => this.inFlight.delete(call));
    return call;
  }

  /** Closes the channels; calls in flight fail with CANCELLED. */
  close(): void {
    for (const call of this.inFlight) call.cancel();
    this.inFlight.clear();
    this.raw.close();
    this.sessionsApi?.channel.close();
  }
}
