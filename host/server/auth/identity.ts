import type { Role } from "./roles.js";

/** Who is calling, as authentication established it. */
export interface Identity {
  /** A name for logs and for the replicated manifest's "deployed by"; never a secret. */
  readonly name: string;
  readonly roles: ReadonlySet<Role>;
  /** How the caller proved it: a bearer token, a client certificate, or nothing (open mode). */
  readonly via: "token" | "certificate" | "open";
}

/** Every role: what a caller of a server in open mode (loopback, no tokens file) holds. */
export const OPEN_IDENTITY: Identity = {
  name: "anonymous",
  roles: new Set<Role>(["read", "play", "admin"]),
  via: "open",
};
