// One WebSocket upgrade forwarded to its upstream. The handshake is bounded by the target's
// timeout; once the upstream answers 101 the two sockets are joined and live on their own.
import type { ClientRequest, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { BadGateway, GatewayTimeout, InvalidRequest, type GatewayError } from "../errors.ts";
import { log } from "../../shared/logger.ts";
import { arrivalOf } from "./forwarded.ts";
import type { ForwardTarget } from "./forwarder.ts";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "./headers.ts";
import type { Proxy, UpstreamOrigin } from "./proxy.ts";
import { errorBody, writeSocketError } from "./socket-error.ts";

/** Called with both sockets of an established tunnel, so the forwarder can close them on shutdown. */
export type TrackTunnel = (client: Duplex, upstream: Duplex) => void;

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === "GET" && req.headers.upgrade?.toLowerCase() === "websocket";
}

/**
 * Resolves, once the handshake is settled, to the status the client was answered: 101 for a tunnel, the
 * upstream's own status when it declined, or the gateway's (502, 504) when the upstream failed.
 */
export function forwardWebSocket(proxy: Proxy, req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, upstream: UpstreamOrigin, trustedHops: number, track: TrackTunnel): Promise<number> {
  return new Promise((resolve) => {
    let settled = false;
    let upgraded = false;
    let current: ClientRequest | undefined;
    const timer = setTimeout(() => refuse(new GatewayTimeout()), target.timeoutMs);

    const settle = (status: number) => {
      settled = true;
      clearTimeout(timer);
      resolve(status);
    };
    const refuse = (error: GatewayError) => {
      if (settled) return;
      current?.destroy();
      const headers: Record<string, string> = {};
      target.decorator?.decorate(headers, true);
      writeSocketError(socket, error.status, headers, errorBody(error));
      settle(error.status);
    };

    // Node removes its own error listener from a socket it hands over for an upgrade.
    socket.on("error", () => {
      if (!upgraded) current?.destroy();
      socket.destroy();
    });

    if (!isWebSocketUpgrade(req)) {
      refuse(new InvalidRequest("only WebSocket upgrades are forwarded", "unsupported_upgrade"));
      return;
    }

    req.headers = upstreamRequestHeaders(req.headers, {
      ...arrivalOf(req, trustedHops),
      upstreamHost: upstream.host,
      upgrade: true,
      removeHeaders: target.removeHeaders,
      setHeaders: target.setHeaders,
    });
    req.url = target.path;

    // These listeners run before http-proxy's own, which write the upstream's answer to the client
    // as they find it: strip what belongs to the upstream connection first.
    const onProxyReq = (proxyReq: ClientRequest) => {
      current = proxyReq;
      proxyReq.on("upgrade", (proxyRes: IncomingMessage, proxySocket: Duplex) => {
        if (settled) {
          proxySocket.destroy();
          return;
        }
        upgraded = true;
        proxyRes.headers = downstreamResponseHeaders(proxyRes.headers, true);
        target.decorator?.decorate(proxyRes.headers, false);
        track(socket, proxySocket);
        settle(101);
      });
      proxyReq.on("response", (proxyRes: IncomingMessage) => {
        if (settled) {
          proxyRes.destroy();
          return;
        }
        // Relayed as is, its body ending the connection: the framing of the upstream's connection does not apply.
        proxyRes.headers = { ...downstreamResponseHeaders(proxyRes.headers), connection: "close" };
        target.decorator?.decorate(proxyRes.headers, false);
        settle(proxyRes.statusCode ?? 502);
      });
    };

    try {
      proxy.ws(req, socket, head, upstream, onProxyReq, (error) => {
        if (upgraded) {
          socket.destroy();
          return;
        }
        log.warn("upstream unreachable", { upstream: upstream.origin, code: (error as NodeJS.ErrnoException).code ?? error.name, websocket: true });
        refuse(new BadGateway("upstream unreachable", "upstream_unreachable"));
      });
    } catch (error) {
      log.error("cannot forward the upgrade", { upstream: upstream.origin, error: error instanceof Error ? error.message : String(error) });
      refuse(new BadGateway("upstream unreachable", "upstream_unreachable"));
    }
  });
}
