// A TCP relay between Gatehouse and PostgreSQL that a test can break in the three ways networks break:
//  - cut(): refuse new connections and reset open ones (a database that is down);
//  - hold(): keep connections open but deliver nothing until restore(), then everything (a stalled link);
//  - drop(): keep connections open and silently discard everything until restore() (a black hole; the
//    connections it touched are desynchronised for good, as after a real loss of packets).
import net from "node:net";

export interface TcpProxy {
  port: number;
  cut(): void;
  hold(): void;
  drop(): void;
  restore(): void;
  close(): Promise<void>;
}

type Mode = "open" | "cut" | "hold" | "drop";

export async function tcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const held: Array<() => void> = [];
  let mode: Mode = "open";

  /** Copies from one socket to the other according to the current mode. */
  const relay = (from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (mode === "drop") return;
      if (mode === "hold") held.push(() => to.write(chunk));
      else to.write(chunk);
    });
    from.on("end", () => to.end());
  };

  const server = net.createServer((inbound) => {
    if (mode === "cut") {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(targetPort, targetHost);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
    }
    relay(inbound, outbound);
    relay(outbound, inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      mode = "cut";
      for (const socket of sockets) socket.destroy();
    },
    hold() {
      mode = "hold";
    },
    drop() {
      mode = "drop";
    },
    restore() {
      mode = "open";
      for (const release of held.splice(0)) release();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
