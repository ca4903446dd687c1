// The samples' own little web servers on loopback (the interactive flows' pages, the gateway sample's
// upstream), their pages' one look, and waiting for a person with a deadline.
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SampleError, type SampleContext, type SampleReport } from "./sample.ts";

export interface LoopbackServer {
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What a handler answers: a status, headers and a body. */
export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Runs once the answer has been sent (say, ending the flow, which closes the server). */
  finish?: () => void;
}

/** One request as a handler sees it: method, URL (absolute, on the server's origin) and body text. */
export interface PageRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const STYLESHEET = `
:root { color-scheme: light dark; --bg: #f3f4f6; --card: #fff; --text: #111827; --muted: #4b5563; --border: #e5e7eb;
  --accent: #1d4ed8; --accent-text: #fff; --ok: #065f46; --ok-bg: #ecfdf5; --bad: #991b1b; --bad-bg: #fef2f2;
  --code-bg: #0f172a; --code-text: #e2e8f0; --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
@media (prefers-color-scheme: dark) { :root { --bg: #0b1220; --card: #111a2e; --text: #f1f5f9; --muted: #94a3b8; --border: #1e293b;
  --accent: #3b82f6; --ok: #6ee7b7; --ok-bg: #052e22; --bad: #fca5a5; --bad-bg: #3b0a0a; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 46rem; margin: 3rem auto; padding: 2rem 2.25rem; background: var(--card); border: 1px solid var(--border);
  border-radius: 0.75rem; box-shadow: 0 1px 3px rgb(16 24 40 / 0.08); }
.kicker { margin: 0 0 0.25rem; color: var(--muted); font-size: 0.8rem; letter-spacing: 0.06em; text-transform: uppercase; }
h1 { margin: 0 0 0.75rem; font-size: 1.5rem; }
h2 { margin: 1.75rem 0 0.5rem; font-size: 1.05rem; }
p, li { color: var(--muted); }
code { font-family: var(--mono); font-size: 0.88em; }
a.button, button { display: inline-block; padding: 0.6rem 1.1rem; border: 0; border-radius: 8px; background: var(--accent);
  color: var(--accent-text); font: inherit; font-weight: 600; text-decoration: none; cursor: pointer; }
input[type=url], input[type=text] { width: 100%; padding: 0.55rem 0.7rem; border: 1px solid var(--border); border-radius: 8px;
  background: var(--bg); color: var(--text); font: 0.9rem var(--mono); margin: 0.25rem 0 0.75rem; }
label { font-weight: 600; }
pre { margin: 0.5rem 0 0; padding: 1rem; overflow-x: auto; border-radius: 8px; background: var(--code-bg); color: var(--code-text);
  font: 0.8rem/1.45 var(--mono); }
.status { padding: 0.6rem 0.9rem; border-radius: 8px; font-weight: 600; }
.status.ok { background: var(--ok-bg); color: var(--ok); }
.status.bad { background: var(--bad-bg); color: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; margin: 0.5rem 0 0; }
dt { color: var(--muted); }
dd { margin: 0; font-family: var(--mono); font-size: 0.88rem; overflow-wrap: anywhere; }
[hidden] { display: none !important; }
`;

/** The stylesheet is inline in every page (so a page the server sends just before closing is whole), allowed by its hash. */
const STYLE_HASH = `'sha256-${crypto.hash("sha256", STYLESHEET, "base64")}'`;

/** Text for HTML content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A whole page in the samples' look: `body` is trusted HTML (escape what goes into it), `script` the path
 * of a script on the same server.
 */
export function page(title: string, body: string, script?: string): Answer {
  return {
    headers: { "content-type": "text/html; charset=utf-8" },
    body: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Gatehouse sample</title>
<style>${STYLESHEET}</style>
${script ? `<script type="module" src="${escapeHtml(script)}"></script>` : ""}
</head>
<body><main>
<p class="kicker">Gatehouse sample</p>
${body}
</main></body>
</html>`,
  };
}

/** A JSON value as an indented, escaped <pre> block. */
export function jsonBlock(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

/** A page's Content-Security-Policy: its own scripts, styles and forms, and fetch to `connect` origins. */
function policy(connect: string[]): string {
  return ["default-src 'none'", "script-src 'self'", `style-src ${STYLE_HASH}`, `connect-src 'self' ${connect.join(" ")}`.trim(), "img-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'"].join("; ");
}

/**
 * Starts a server on 127.0.0.1 (`port`, 0 for any free one). Every answer is no-store with a strict
 * CSP (fetch allowed to `connect` origins); a handler that throws answers 500 with the message.
 * @throws SampleError when the port is taken
 */
export type Handler = (request: PageRequest) => Answer | Promise<Answer>;

export async function startLoopbackServer(port: number, handle: Handler, connect: string[] = []): Promise<LoopbackServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      let answer: Answer;
      try {
        const url = new URL(req.url ?? "/", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        // Browsers ask for a favicon on every page: no content, rather than a 404 in the console.
        answer = url.pathname === "/favicon.ico" ? { status: 204 } : await handle({ method: req.method ?? "GET", url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      } catch (error) {
        answer = { status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: error instanceof Error ? error.message : String(error) };
      }
      res.writeHead(answer.status ?? 200, { "cache-control": "no-store", "content-security-policy": policy(connect), "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", ...answer.headers });
      res.end(answer.body ?? "", answer.finish);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(new SampleError(`cannot listen on 127.0.0.1:${port}: ${error.code ?? error.message} (choose another with --port)`)));
    server.listen(port, "127.0.0.1", resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether a request comes from one of the sample's own pages (a form post or fetch), as browsers say with
 * Sec-Fetch-Site or Origin: a page elsewhere cannot end or feed the flow.
 */
export function fromOwnPage(request: PageRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  return site === "same-origin" || (site === undefined && request.headers.origin === request.url.origin);
}

/** A value the browser hands over later (the end of an interactive flow), settled once. */
export interface Pending<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

export function pending<T>(): Pending<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Waits for the person, at most --timeout seconds.
 * @param what what is awaited, for the error: "the sign-in"
 * @throws SampleError when the time is up, or the flow's own error
 */
export async function withinTimeout<T>(context: SampleContext, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SampleError(`${what} did not finish within ${context.options.timeoutSeconds} s (--timeout)`)), context.options.timeoutSeconds * 1000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The redirect answer. */
export function redirect(location: string): Answer {
  return { status: 303, headers: { location } };
}

/** What an interactive flow sets up once its server listens: how it answers, and the path to open. */
export interface InteractiveSetup {
  handle: Handler;
  /** The path the person opens first, e.g. "/". */
  open: string;
}

/**
 * Runs an interactive flow: starts its loopback server (--port), lets `prepare` register what needs the
 * server's address (a redirect URI) and say how to answer, tells the person what to open and waits for
 * the flow to settle `done`, at most --timeout seconds. The server is closed in every case.
 * @param connect origins the pages may fetch from (the SPA's token endpoint)
 * @param what what is awaited, for the timeout's message
 */
export async function serveUntilDone(
  context: SampleContext,
  { connect = [], what }: { connect?: string[]; what: string },
  prepare: (origin: string, done: Pending<SampleReport>) => Promise<InteractiveSetup>,
): Promise<SampleReport> {
  const done = pending<SampleReport>();
  let handle: Handler = () => ({ status: 503, body: "the sample is starting" });
  const server = await startLoopbackServer(context.options.port, (request) => handle(request), connect);
  try {
    const setup = await prepare(server.url, done);
    handle = setup.handle;
    context.say(`open ${server.url}${setup.open} in a browser (waiting up to ${context.options.timeoutSeconds} s; --timeout)`);
    return await withinTimeout(context, done.promise, what);
  } finally {
    await server.close();
  }
}

/** 404 for a path the sample does not serve. */
export const notFound: Answer = { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: "not found" };

/** The page that ends a flow: what it got, as the terminal prints it. */
export function resultPage(title: string, summary: Record<string, unknown>, report: unknown): Answer {
  const facts = Object.entries(summary)
    .map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(typeof value === "string" ? value : JSON.stringify(value))}</dd>`)
    .join("");
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1>
<p class="status ok" role="status">Signed in. The terminal shows the same; the sample has finished and this server has stopped.</p>
<dl>${facts}</dl>
<h2>What the sample got</h2>
${jsonBlock(report)}`,
  );
}

/** The page for a flow that failed: the one-line reason, as the terminal prints it. */
export function errorPage(title: string, message: string): Answer {
  return {
    ...page(title, `<h1>${escapeHtml(title)}</h1><p class="status bad" role="alert">${escapeHtml(message)}</p><p>The terminal shows the same; the sample has stopped.</p>`),
    status: 400,
  };
}
