// A real backend for gateway tests: records every request it receives and answers with what it saw.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  url: string;
  port: number;
  received: ReceivedRequest[];
  /** Delay before answering requests whose path contains "/slow". */
  slowMs: number;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const received: ReceivedRequest[] = [];
  const state = { slowMs: 3000 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() };
      received.push(entry);
      const answer = () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: entry.method, url: entry.url, headers: entry.headers, bodyLength: entry.body.length }));
      };
      if (entry.url.includes("/slow")) setTimeout(answer, state.slowMs).unref();
      else answer();
    });
  });
  const sockets = new WebSocketServer({ server });
  sockets.on("connection", (socket, req) => {
    socket.send(JSON.stringify({ hello: req.headers["x-gatehouse-subject"] ?? null }));
    socket.on("message", (data) => socket.send(`echo:${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    get slowMs() {
      return state.slowMs;
    },
    set slowMs(value: number) {
      state.slowMs = value;
    },
    close: () =>
      new Promise((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
