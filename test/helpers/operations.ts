// Reading what a running Gatehouse reports about itself: a series' value in a Prometheus scrape, and
// its access log lines.
import type { RunningGatehouse } from "./gatehouse.ts";

/** The value of one series (name and labels exactly as exposed) in an exposition text, or undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The access log lines (msg "access") a running instance wrote so far, parsed; of one server when given. */
export function accessLines(gatehouse: RunningGatehouse, server?: "gateway" | "authorization-server"): Array<Record<string, unknown>> {
  return gatehouse
    .output()
    .split("\n")
    .filter((line) => line.includes('"msg":"access"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => server === undefined || line.server === server);
}
