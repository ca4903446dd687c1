// The metrics endpoint: GET /metrics on its own port (METRICS_PORT), in Prometheus' text format. With
// WORKERS=N the primary serves it and each scrape collects every worker's registry through prom-client's
// AggregatorRegistry (cluster messages) and sums them, so one scrape covers the whole instance. Kept off
// the servers' own ports, so it can be firewalled apart and never reaches a client.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { AggregatorRegistry, type Registry } from "prom-client";
import { log } from "../shared/logger.ts";
import { closeGracefully } from "../shared/close-server.ts";

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export interface MetricsSource {
  contentType: string;
  collect(): Promise<string>;
}

/** This process's own registry. */
export function registrySource(registry: Registry): MetricsSource {
  return { contentType: registry.contentType, collect: () => registry.metrics() };
}

/** Every cluster worker's registry, summed (call in the primary; workers call enableMetrics({ clusterWorker: true })). */
export function clusterSource(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, collect: () => aggregator.clusterMetrics() };
}

export async function serveMetrics(port: number, host: string, source: MetricsSource): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    source.collect().then(
      (text) => {
        res.writeHead(200, { "content-type": source.contentType, "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        log.warn("could not collect metrics", { error: error instanceof Error ? error.message : String(error) });
        res.writeHead(500, { "content-type": "text/plain" }).end("could not collect metrics\n");
      },
    );
  });
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeGracefully(server),
  };
}
