// Raw TCP connections to a server under test, for what an HTTP client would hide: headers or a body
// sent a byte at a time, connections held open, what the server sends and when it closes.
import net from "node:net";

export interface Connection {
  socket: net.Socket;
  /** Everything the server sent. */
  received: () => string;
  /** Resolves with the milliseconds from connecting to the connection closing. */
  closed: Promise<number>;
}

export interface RawConnections {
  /** Opens a connection to 127.0.0.1:port; resolves once connected. */
  connect(port: number): Promise<Connection>;
  /** Destroys every connection opened so far (for afterEach). */
  destroyAll(): void;
}

export function rawConnections(): RawConnections {
  const open: net.Socket[] = [];
  return {
    connect: (port) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const socket = net.connect(port, "127.0.0.1");
        open.push(socket);
        let data = "";
        socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
        const closed = new Promise<number>((done) => socket.on("close", () => done(Date.now() - started)));
        socket.once("error", reject);
        socket.once("connect", () => resolve({ socket, received: () => data, closed }));
      }),
    destroyAll: () => {
      for (const socket of open.splice(0)) socket.destroy();
    },
  };
}

/** Writes text one character every intervalMs (milliseconds) until it is all written or the socket closes. */
export function dribble(socket: net.Socket, text: string, intervalMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at === text.length) clearInterval(timer);
    else socket.write(text[at++]!);
  }, intervalMs);
  socket.once("close", () => clearInterval(timer));
}
