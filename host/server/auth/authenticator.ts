import type { Metadata, ServerInterceptingCallInterface } from "@grpc/grpc-js";
import { AuthError } from "./errors.js";
import { type Identity, OPEN_IDENTITY } from "./identity.js";
import type { Requirement } from "./roles.js";
import { hashToken, TOKEN_MAX_CHARS, type TokenTable } from "./tokens-file.js";

/** Metadata key of the bearer token: `authorization: Bearer <token>`, as gRPC clients send it. */
export const AUTHORIZATION_METADATA_KEY = "authorization";
/** The TLS context of a call's connection (grpc-js does not export the type by name). */
export type AuthContext = ReturnType<ServerInterceptingCallInterface["getAuthContext"]>;

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

/**
 * Decides who a caller is and whether it may call a method. Two modes, chosen by the composition
 * root (host/node): open (no tokens file on a loopback bind, or `--insecure`: every caller holds
 * every role, as a development server always has) and closed (a tokens file: a caller is a bearer
 * token or a verified client certificate listed there, and holds the roles listed with it).
 * The token table can be replaced at run time (SIGHUP) without dropping calls.
 */
export class Authenticator {
  private table: TokenTable | undefined;

  private constructor(table: TokenTable | undefined) {
    this.table = table;
  }

  /** Everybody may do everything. */
  static open(): Authenticator {
    return new Authenticator(undefined);
  }

  /** Only the identities in `table`, with their roles. */
  static closed(table: TokenTable): Authenticator {
    return new Authenticator(table);
  }

  get isOpen(): boolean {
    return this.table === undefined;
  }

  /** Swaps in a re-read tokens file; calls already authorised go on. */
  replaceTokens(table: TokenTable): void {
    if (this.table === undefined) throw new Error("an open server has no tokens to replace");
    this.table = table;
  }

  /**
   * The caller of `path`, if it may call it; otherwise an `AuthError`. `auth` is the connection's
   * TLS context: its peer certificate has been verified against the client CA, because the
   * server requires client certificates whenever it is given one.
   */
  authorize(
    path: string,
    requirement: Requirement,
    metadata: Metadata,
    auth: AuthContext,
  ): Identity {
    if (requirement === "open" || this.table === undefined) return OPEN_IDENTITY;
    const identity = this.identify(metadata, auth, this.table);
    if (!identity.roles.has(requirement)) {
      throw new AuthError(
        "PermissionDenied",
        `${identity.name} may not call ${path}: it needs the "${requirement}" role`,
      );
    }
    return identity;
  }

  private identify(metadata: Metadata, auth: AuthContext, table: TokenTable): Identity {
    const header = metadata.get(AUTHORIZATION_METADATA_KEY);
    if (header.length > 0) {
      const value = header[0];
      const token =
        typeof value === "string" && value.length <= TOKEN_MAX_CHARS + 7
          ? BEARER.exec(value)?.[1]
          : undefined;
      if (header.length > 1 || token === undefined) {
        throw new AuthError("Unauthenticated", 'the authorization header must be "Bearer <token>"');
      }
      const identity = table.byTokenHash.get(hashToken(token));
      if (identity === undefined) throw new AuthError("Unauthenticated", "unknown token");
      return identity;
    }
    const commonName = auth.sslPeerCertificate?.subject?.CN;
    if (typeof commonName === "string" && commonName !== "") {
      const identity = table.byCommonName.get(commonName);
      if (identity === undefined) {
        throw new AuthError("Unauthenticated", "client certificate not listed in the tokens file");
      }
      return identity;
    }
    throw new AuthError("Unauthenticated", "no credentials: send a bearer token or a certificate");
  }
}
