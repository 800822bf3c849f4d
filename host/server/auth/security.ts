import type { ServerSecurity } from "../server.js";
import {
  checkSecurity,
  SecurityConfigError,
  type SecurityPosture,
  type ServerTlsFiles,
} from "../tls.js";
import { Authenticator } from "./authenticator.js";
import { loadTokens } from "./tokens-file.js";

/** The security settings of a server as an operator gives them (flags or the node config). */
export interface SecuritySettings {
  readonly host: string;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly tlsClientCa?: string | undefined;
  readonly tokens?: string | undefined;
  readonly insecure?: boolean | undefined;
}

/** What a composition root needs to start a server with those settings. */
export interface ResolvedSecurity {
  readonly security: ServerSecurity;
  readonly posture: SecurityPosture;
  /** Re-reads the tokens file (on SIGHUP); a bad file is refused and the old one kept. */
  reloadTokens(): Promise<void>;
}

/**
 * Checks the settings (see `checkSecurity` for what is refused), reads the tokens file and returns
 * the server's security. Throws `SecurityConfigError` or `TokensFileError` with a message that
 * names the flag or file.
 */
export async function resolveSecurity(settings: SecuritySettings): Promise<ResolvedSecurity> {
  const { tlsCert, tlsKey } = settings;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new SecurityConfigError("--tls-cert and --tls-key go together");
  }
  const tls: ServerTlsFiles | undefined =
    tlsCert === undefined || tlsKey === undefined
      ? undefined
      : { certFile: tlsCert, keyFile: tlsKey, clientCaFile: settings.tlsClientCa };
  if (tls === undefined && settings.tlsClientCa !== undefined) {
    throw new SecurityConfigError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  const posture = checkSecurity({
    host: settings.host,
    tls,
    tokensFile: settings.tokens,
    insecure: settings.insecure === true,
  });
  const tokensFile = settings.tokens;
  const authenticator =
    tokensFile === undefined
      ? Authenticator.open()
      : Authenticator.closed(await loadTokens(tokensFile));
  return {
    security: { tls, authenticator, insecure: posture.insecure },
    posture,
    async reloadTokens() {
      if (tokensFile !== undefined) authenticator.replaceTokens(await loadTokens(tokensFile));
    },
  };
}
