// Every Gatehouse setting is an environment variable (a .env file is read if present).
// This file is the one place that documents and validates them; the README's configuration
// reference mirrors it. A bad value stops the start with the variable's name and the reason.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SIGNING_ALGORITHMS } from "../shared/algorithms.ts";

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().positive();
const milliseconds = z.coerce.number().int().positive();
/** "false" (the edge: trust no forwarding header), "true" (one proxy in front) or the number of proxies in front. */
const proxyHops = z
  .union([z.enum(["true", "false"]), z.coerce.number().int().min(0).max(10)])
  .transform((v) => (v === "true" ? 1 : v === "false" ? 0 : v));

const schema = z.object({
  /** Port of the authorization server. */
  PORT: port.default(3000),
  /** Address the servers bind to. */
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Issuer identifier: the public base URL of the authorization server, no trailing slash. */
  ISSUER: z.url().refine((u) => !u.endsWith("/"), "must not end with /").optional(),
  /** Port of the API gateway. */
  GATEWAY_PORT: port.default(8080),
  /** Server processes: a number, or "auto" for one per CPU. Each serves both ports (node:cluster). */
  WORKERS: z.union([z.literal("auto"), z.coerce.number().int().min(1).max(64)]).default(1),
  /** What this process runs: both servers (default), or one of them for scaling them separately. */
  ROLE: z.enum(["all", "authorization-server", "gateway"]).default("all"),
  /** Clock skew the gateway tolerates on exp, nbf and iat, in seconds. */
  GATEWAY_CLOCK_SKEW: z.coerce.number().int().min(0).max(300).default(30),
  /** Requests to the token info endpoint (/tokeninfo) per source address per minute, per process. */
  TOKENINFO_RATE_LIMIT: z.coerce.number().int().positive().default(300),
  /** Clock skew the assertion grants (JWT and SAML 2.0 bearer) tolerate on exp, nbf, iat and NotBefore/NotOnOrAfter, in seconds. */
  ASSERTION_CLOCK_SKEW: z.coerce.number().int().min(0).max(300).default(60),
  /** Least time between two fetches of a trusted issuer's JWKS on an unknown kid, in seconds. */
  GATEWAY_JWKS_COOLDOWN: seconds.default(30),
  /** How long an introspection result is reused at most (never past the token's expiry), in seconds. */
  GATEWAY_INTROSPECTION_CACHE_TTL: seconds.default(30),
  /** Introspection endpoint the gateway calls for opaque tokens; defaults to ISSUER/introspect. */
  GATEWAY_INTROSPECTION_URL: z.url().optional(),
  /** Gatehouse's token endpoint as the gateway reaches it (token_exchange policy); default ISSUER/token. */
  GATEWAY_TOKEN_URL: z.url().optional(),
  /** Lifetime of the identity token the gateway signs for a backend (forwardToken "signed"), in seconds. */
  GATEWAY_SIGNED_TOKEN_TTL: seconds.default(60),
  /** unset: SQLite at ./data/gatehouse.db; file:/path.db: SQLite there; postgresql://...: PostgreSQL. */
  DATABASE_URL: z
    .string()
    .regex(/^(file:|postgres(ql)?:\/\/)/, "must start with file: or postgresql://")
    .optional(),
  /** PostgreSQL: longest wait for a new connection, in milliseconds. */
  DB_CONNECT_TIMEOUT_MS: milliseconds.default(3000),
  /**
   * PostgreSQL: longest wait for any query, in milliseconds (client side, and statement_timeout on the
   * server). A request that needs an unresponsive database gets 503 within about this long.
   */
  DB_QUERY_TIMEOUT_MS: milliseconds.default(5000),
  /**
   * Redis (redis:// or rediss://, credentials and database number in the URL) for state shared by every
   * process and instance: the gateway's rate limits, password-attempt counters, the replay cache (assertion
   * ids, DPoP proofs) and change notifications. Unset: rate limits count in each process, the rest stays
   * in the database.
   */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/./, "must start with redis:// or rediss://")
    .optional(),
  /** Prefix of every Redis key Gatehouse writes (followed by ":"), so deployments can share a Redis. */
  REDIS_PREFIX: z.string().min(1).default("gatehouse"),
  /** Directory for the embedded database, the generated key-encryption secret and other local state. */
  DATA_DIR: z.string().default("data"),
  /** Secret (at least 32 characters) that encrypts signing keys at rest. Generated and kept in DATA_DIR if unset. */
  KEY_ENCRYPTION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  /** Secret(s) for signing cookies, comma separated (newest first). Generated and kept in DATA_DIR if unset. */
  COOKIE_SECRETS: z.string().min(32).optional(),
  /**
   * Secret (at least 32 characters) from which the authorization server (RFC 9449 §8) and the gateway (§9)
   * derive their DPoP nonces: every instance must share it, or a nonce one issued is refused by another. Generated and kept in
   * DATA_DIR if unset (required with PostgreSQL or NODE_ENV=production, as the other secrets).
   */
  DPOP_NONCE_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  /**
   * Authorization server: every DPoP proof at the token endpoint must carry a server nonce (RFC 9449 §8):
   * the first attempt gets use_dpop_nonce with a DPoP-Nonce header, the client repeats it with that nonce.
   * Off: a proof is accepted with a recent iat alone (the nonce is still offered).
   */
  DPOP_REQUIRE_NONCE: z.enum(["true", "false"]).transform((v) => v === "true").default(false),
  /** Gateway: how far a DPoP proof's iat may lie from the gateway's clock, in seconds (RFC 9449 §11.1). */
  GATEWAY_DPOP_PROOF_MAX_AGE: z.coerce.number().int().min(1).max(3600).default(60),
  /** Algorithm of newly generated signing keys. */
  SIGNING_ALG: z.enum(SIGNING_ALGORITHMS).default("ES256"),
  /** Serve the admin console and the admin API at /admin on the authorization server's port. */
  ADMIN_ENABLED: z.enum(["true", "false"]).transform((v) => v === "true").default(true),
  /** A console session ends after this many seconds without a request, and after ADMIN_SESSION_MAX_AGE in any case. */
  ADMIN_SESSION_IDLE_TIMEOUT: seconds.default(1800),
  ADMIN_SESSION_MAX_AGE: seconds.default(12 * 3600),
  /** Password of the first admin user; if unset one is generated, printed once, and must be changed at the first sign-in. */
  ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  ADMIN_USERNAME: z.string().min(1).default("admin"),
  /** Default lifetimes (seconds). */
  ACCESS_TOKEN_TTL: seconds.default(3600),
  ID_TOKEN_TTL: seconds.default(3600),
  REFRESH_TOKEN_TTL: seconds.default(14 * 24 * 3600),
  AUTHORIZATION_CODE_TTL: seconds.default(60),
  /**
   * Seconds during which a just-rotated refresh token may be presented once more and still get tokens
   * (its response was lost); after that, presenting it is reuse and revokes the grant. 0: no grace.
   * A client's own setting wins.
   */
  REFRESH_TOKEN_REUSE_GRACE: z.coerce.number().int().min(0).max(300).default(10),
  SESSION_TTL: seconds.default(14 * 24 * 3600),
  /** How long a verified client secret is remembered in memory, so argon2 does not run per token request. */
  CLIENT_SECRET_CACHE_TTL: seconds.default(300),
  /**
   * How often cached configuration (clients, APIs, routes, scopes, keys) and the revocation list are
   * checked for changes, in milliseconds: the safety net for a lost change notification, which applies
   * a change at once (change-notifications.ts); a poll reads only what changed.
   */
  CONFIG_POLL_MS: z.coerce.number().int().min(50).default(5000),
  /** How often expired artifacts and revocations are purged, in seconds. */
  PURGE_INTERVAL: seconds.default(300),
  /**
   * Password throttling (the login page and every grant that checks a password), after Keycloak's brute
   * force detection. Attempts per account *and* source address: LOGIN_MAX_FAILURES are free, then each
   * further one waits LOGIN_WAIT_INCREMENT seconds, doubling up to LOGIN_MAX_WAIT; two failures closer than
   * LOGIN_QUICK_FAILURE_MS lock for LOGIN_WAIT_INCREMENT at once. So a stranger's guesses slow the stranger.
   */
  LOGIN_MAX_FAILURES: z.coerce.number().int().positive().default(5),
  LOGIN_WAIT_INCREMENT: seconds.default(60),
  LOGIN_MAX_WAIT: seconds.default(900),
  LOGIN_QUICK_FAILURE_MS: z.coerce.number().int().min(0).default(1000),
  /** Failures of one account from all addresses before it locks for LOGIN_MAX_WAIT (distributed guessing). */
  LOGIN_ACCOUNT_MAX_FAILURES: z.coerce.number().int().positive().default(50),
  /** Failures from one address across all accounts before it locks for LOGIN_MAX_WAIT (credential stuffing). */
  LOGIN_ADDRESS_MAX_FAILURES: z.coerce.number().int().positive().default(100),
  /** Seconds without an attempt after which a counter starts from zero again. */
  LOGIN_FAILURE_RESET: seconds.default(12 * 3600),
  /** Largest request body accepted, in bytes. */
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(64 * 1024),
  /** Authorization server: longest time a client may take to send the request headers, in milliseconds (then 408). */
  HEADERS_TIMEOUT_MS: milliseconds.default(10_000),
  /** Authorization server: longest time a client may take to send a whole request, body included, in milliseconds (then 408). */
  REQUEST_TIMEOUT_MS: milliseconds.default(30_000),
  /** Authorization server: how long an idle keep-alive connection from a client stays open, in milliseconds. */
  IDLE_TIMEOUT_MS: milliseconds.default(65_000),
  /** Authorization server: most simultaneous connections from one source address (0: no limit). */
  MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).default(256),
  /**
   * Reverse proxies in front of Gatehouse whose forwarding headers are trusted: "false" (0, Gatehouse is
   * the edge: X-Forwarded-*, Forwarded and X-Real-IP from clients are dropped and rebuilt from the
   * socket), "true" (1) or a number of hops. The client address is the one the outermost trusted hop saw.
   */
  TRUST_PROXY: proxyHops.default(0),
  /** Gateway: longest time a client may take to send the request headers, in milliseconds (then 408). */
  GATEWAY_HEADERS_TIMEOUT_MS: milliseconds.default(10_000),
  /** Gateway: longest time a client may take to send a whole request, body included, in milliseconds (then 408). */
  GATEWAY_REQUEST_TIMEOUT_MS: milliseconds.default(60_000),
  /** Gateway: how long an idle keep-alive connection from a client stays open, in milliseconds. */
  GATEWAY_IDLE_TIMEOUT_MS: milliseconds.default(65_000),
  /** Gateway: most simultaneous connections from one source address (0: no limit). */
  GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).default(256),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  /** One line per request on both servers (at info level): request id, method, path, status, duration, API, route, client, reason. */
  ACCESS_LOG: z.enum(["true", "false"]).transform((v) => v === "true").default(true),
  /**
   * Port of the Prometheus metrics endpoint (GET /metrics; bound to HOST). Unset: no metrics are kept at
   * all. With WORKERS=N the primary serves it for every worker.
   */
  METRICS_PORT: port.optional(),
  /** Longest wait for a readiness check (/readyz: the database's answer), in milliseconds; then 503. */
  READINESS_TIMEOUT_MS: milliseconds.default(1000),
  /** "production" makes every secret that several instances must share mandatory (secrets.ts), on any database. */
  NODE_ENV: z.string().optional(),
}).superRefine((env, ctx) => {
  if (env.GATEWAY_HEADERS_TIMEOUT_MS > env.GATEWAY_REQUEST_TIMEOUT_MS) {
    ctx.addIssue({ code: "custom", path: ["GATEWAY_HEADERS_TIMEOUT_MS"], message: "must not exceed GATEWAY_REQUEST_TIMEOUT_MS" });
  }
  if (env.HEADERS_TIMEOUT_MS > env.REQUEST_TIMEOUT_MS) {
    ctx.addIssue({ code: "custom", path: ["HEADERS_TIMEOUT_MS"], message: "must not exceed REQUEST_TIMEOUT_MS" });
  }
});

export type Env = z.infer<typeof schema>;

export type Config = Readonly<
  Omit<Env, "ISSUER" | "DATABASE_URL"> & {
    ISSUER: string;
    DATABASE_URL: string;
    databaseKind: "sqlite" | "postgresql";
  }
>;

/** Reads KEY=VALUE lines of a .env file into process.env without overriding what is already set. */
function loadDotEnv(file: string): void {
  if (!fs.existsSync(file)) return;
  for (const line of fs.readFileSync(file, "utf8").split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith("#")) continue;
    const [, key, raw] = match as unknown as [string, string, string];
    const value = raw.replace(/^(['"])(.*)\1$/, "$2");
    if (process.env[key] === undefined) process.env[key] = value;
  }
}

export class ConfigError extends Error {}

export function loadConfig(source: NodeJS.ProcessEnv = process.env, { dotenv = true } = {}): Config {
  if (dotenv && source === process.env) loadDotEnv(path.resolve(".env"));
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const env = parsed.data;
  const dataDir = path.resolve(env.DATA_DIR);
  const DATABASE_URL = env.DATABASE_URL ?? `file:${path.join(dataDir, "gatehouse.db")}`;
  return Object.freeze({
    ...env,
    DATA_DIR: dataDir,
    ISSUER: env.ISSUER ?? `http://localhost:${env.PORT}`,
    DATABASE_URL,
    databaseKind: DATABASE_URL.startsWith("file:") ? "sqlite" : "postgresql",
  });
}

/** The default lifetimes, for code that runs without a loaded configuration (tests, tools). */
export function defaultLifetimes(): Pick<Config, "ACCESS_TOKEN_TTL" | "ID_TOKEN_TTL"> {
  const { ACCESS_TOKEN_TTL, ID_TOKEN_TTL } = schema.shape;
  return { ACCESS_TOKEN_TTL: ACCESS_TOKEN_TTL.parse(undefined), ID_TOKEN_TTL: ID_TOKEN_TTL.parse(undefined) };
}
