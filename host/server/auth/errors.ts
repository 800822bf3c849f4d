/**
 * Why a call was refused before it reached a service: `Unauthenticated` (no identity, or a token
 * or certificate the server does not know) or `PermissionDenied` (a known identity without the
 * role the method needs). host/server/status.ts maps them to UNAUTHENTICATED and
 * PERMISSION_DENIED. Messages never contain the secret that was presented.
 */
export type AuthErrorCode = "Unauthenticated" | "PermissionDenied";

export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }
}
