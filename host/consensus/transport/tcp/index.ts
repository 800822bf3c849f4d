export * from "./backoff.js";
export * from "./connector.js";
export * from "./handshake.js";
export * from "./stats.js";
export * from "./tcp-transport.js";
export * from "./tls-connector.js";
