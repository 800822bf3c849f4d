/**
 * Who may call what. Each identity holds a set of roles; each RPC needs exactly one role. The
 * table below is the one place that says which; a method it does not list needs `admin`, so a
 * service added later is closed until someone decides otherwise.
 */

/** The roles an identity can hold (docs/security.md). */
export const ROLES = ["read", "play", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** What a method needs: a role, or nothing at all (health checks, for load balancers). */
export type Requirement = Role | "open";

/** Needs by service (every method of it) or by full method path (`/pkg.Service/Method`). */
const REQUIREMENTS: Readonly<Record<string, Requirement>> = {
  "grpc.health.v1.Health": "open",
  "grpc.reflection.v1.ServerReflection": "read",
  "grpc.reflection.v1alpha.ServerReflection": "read",
  "engine.v1.Engine": "read",
  "sessions.v1.Sessions": "play",
  "/sessions.v1.Sessions/GetSession": "read",
  "/sessions.v1.Sessions/WatchSession": "read",
  "/sessions.v1.Sessions/ListSessions": "read",
  "/sessions.v1.Sessions/ExportSession": "read",
  // Every other Manifest method (Deploy, SetCurrent, Retire, Allow) changes the code every node
  // runs: admin.
  "manifest.v1.Manifest": "admin",
  "/manifest.v1.Manifest/ListBuilds": "read",
  "/cluster.v1.Cluster/Status": "read",
  "/cluster.v1.Cluster/Get": "read",
  "/cluster.v1.Cluster/Put": "admin",
  "/cluster.v1.Cluster/CompareAndSet": "admin",
};

/** The role `path` ("/engine.v1.Engine/Step") needs. */
export function requirementFor(path: string): Requirement {
  const exact = REQUIREMENTS[path];
  if (exact !== undefined) return exact;
  const service = /^\/([^/]+)\//.exec(path)?.[1];
  return (service === undefined ? undefined : REQUIREMENTS[service]) ?? "admin";
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
