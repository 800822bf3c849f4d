import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { listenError } from "./listen-error.js";
import type { ServerMetrics } from "./metrics.js";

/** A running `/metrics` endpoint. */
export interface MetricsEndpoint {
  /** Full URL of the metrics page, e.g. http://127.0.0.1:9464/metrics. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the metrics in Prometheus text format on `GET /metrics` (port 0 picks a free port). */
export async function serveMetrics(
  metrics: ServerMetrics,
  host: string,
  port: number,
): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not found; try /metrics\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(listenError("metrics port", host, port, error)));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${bound}/metrics`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
