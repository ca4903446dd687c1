// docker-compose.yml runs the production shape (PostgreSQL, Redis, two Gatehouse instances, HAProxy in
// front). No Docker engine runs here, so the file is checked as text: parsed, its interpolations
// resolved as `docker compose` would with nothing set, and compared with the configuration schema
// (src/config/env.ts through loadConfig), with the secrets' rules (src/config/secrets.ts) and with
// deploy/haproxy.cfg, which `haproxy -c` validates.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import YAML from "yaml";
import { ConfigError, loadConfig, type Config } from "../../src/config/env.ts";
import { cookieSecrets, dpopNonceSecret, keyEncryptionSecret } from "../../src/config/secrets.ts";
import { NODE } from "../helpers/gatehouse.ts";

const ROOT = path.resolve(".");
const COMPOSE_FILE = path.join(ROOT, "docker-compose.yml");
const HAPROXY_FILE = path.join(ROOT, "deploy/haproxy.cfg");
/** Secrets every instance must share (secrets.ts) and the database password: only ever in an env file. */
const SECRETS = ["KEY_ENCRYPTION_SECRET", "COOKIE_SECRETS", "DPOP_NONCE_SECRET", "DATABASE_URL", "ADMIN_PASSWORD"];

type Service = {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: string | Array<string | { path: string; required?: boolean }>;
  ports?: Array<string | number>;
  expose?: Array<string | number>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  restart?: string;
  volumes?: string[];
};

/**
 * Compose interpolation ($$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error})
 * with `vars` set; any other "$" is an invalid template, as for `docker compose`.
 */
function interpolate(text: string, vars: Record<string, string>): string {
  const invalid = /\$(?![{$A-Za-z_])|\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\})/.exec(text.replace(/\$\$/g, ""));
  if (invalid) throw new Error(`invalid interpolation at "${text.slice(invalid.index, invalid.index + 12)}" in: ${text}`);
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === "$$") return "$";
    if (bare !== undefined) return vars[bare] ?? "";
    const value = vars[name!];
    const missing = op?.startsWith(":") ? !value : value === undefined;
    if (op?.endsWith("-")) return missing ? arg! : value!;
    if (op?.endsWith("?") && missing) throw new Error(`\${${name}} is required: ${arg}`);
    return value ?? "";
  });
}

/** KEY=VALUE lines of an env file (blank lines and # comments skipped); any other line fails the test. */
function readEnvFile(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [index, line] of fs.readFileSync(file, "utf8").split(/\r?\n/).entries()) {
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`${path.relative(ROOT, file)}:${index + 1} is not KEY=VALUE: ${line}`);
    values[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, "$2");
  }
  return values;
}

const compose = YAML.parse(fs.readFileSync(COMPOSE_FILE, "utf8"), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const commandOf = (service: Service): string[] => (Array.isArray(service.command) ? service.command : String(service.command ?? "").split(/\s+/));
/** The Gatehouse servers: the services that run `npm start`. */
const instanceNames = Object.keys(services).filter((name) => commandOf(services[name]!).join(" ") === "npm start");
/** One-shot services (run to completion, waited for with service_completed_successfully). */
const oneShotNames = Object.keys(services).filter((name) => services[name]!.restart === "no");

/** The env files of a service, as repository paths. */
function envFilesOf(service: Service): string[] {
  const files = service.env_file === undefined ? [] : Array.isArray(service.env_file) ? service.env_file : [service.env_file];
  return files.map((entry) => (typeof entry === "string" ? entry : entry.path));
}

/** A service's own `environment`, interpolated with nothing set (defaults apply). */
function environmentOf(service: Service): Record<string, string> {
  const entries = Array.isArray(service.environment)
    ? service.environment.map((item) => item.split(/=(.*)/s).slice(0, 2) as [string, string])
    : Object.entries(service.environment ?? {}).map(([key, value]) => [key, value === null ? "" : String(value)] as [string, string]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value ?? "", {})]));
}

/** What the container's environment would be: the env files (their committed examples), then `environment` over them. */
function containerEnvironment(service: Service): Record<string, string> {
  const fromFiles = Object.assign({}, ...envFilesOf(service).map((file) => readEnvFile(path.join(ROOT, `${file}.example`)))) as Record<string, string>;
  return { ...fromFiles, ...environmentOf(service) };
}

/** "host:container[/proto]" port mappings as numbers. */
function publishedPorts(service: Service): Array<{ host: number; container: number }> {
  return (service.ports ?? []).map((spec) => {
    const match = /^(?:[\d.]+:)?(\d+):(\d+)(?:\/tcp)?$/.exec(String(spec));
    if (!match) throw new Error(`unexpected port mapping ${spec}`);
    return { host: Number(match[1]), container: Number(match[2]) };
  });
}

function dependsOn(service: Service): Record<string, string | undefined> {
  const deps = service.depends_on ?? {};
  return Array.isArray(deps) ? Object.fromEntries(deps.map((name) => [name, undefined])) : Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep?.condition]));
}

/** deploy/haproxy.cfg as sections ("backend gateway" → its lines, comments and blank lines removed). */
function haproxySections(): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of fs.readFileSync(HAPROXY_FILE, "utf8").split("\n")) {
    const line = raw.replace(/\s+#.*$|^#.*$/, "").trimEnd();
    if (line.trim() === "") continue;
    if (!/^\s/.test(line)) {
      current = [];
      sections.set(line.trim().replace(/\s+/g, " "), current);
    } else {
      if (!current) throw new Error(`haproxy.cfg: a setting outside any section: ${line}`);
      current.push(line.trim().replace(/\s+/g, " "));
    }
  }
  return sections;
}

const instanceConfig = (name: string): Config => loadConfig(containerEnvironment(services[name]!), { dotenv: false });

describe("docker-compose.yml: the production shape", () => {
  test("services: PostgreSQL, Redis, a one-shot install, two or three Gatehouse instances and HAProxy, on official images", () => {
    expect(instanceNames.length).toBeGreaterThanOrEqual(2);
    expect(instanceNames.length).toBeLessThanOrEqual(3);
    expect(Object.keys(services).sort()).toEqual(["gatehouse-install", "haproxy", "postgres", "redis", ...instanceNames].sort());
    expect(oneShotNames).toEqual(["gatehouse-install"]);
    expect(services.postgres!.image).toBe("postgres:16");
    expect(services.redis!.image).toBe("redis:7");
    expect(services.haproxy!.image).toBe("haproxy:2.8");
    expect(interpolate(commandOf(services["gatehouse-install"]!).join(" "), {})).toMatch(/^sh -c npm ci --omit=dev .*&& chown -R "\$\(stat -c %u:%g \/app\)" src\/storage\/generated$/);
    for (const name of [...instanceNames, "gatehouse-install"]) expect(services[name]!.image).toMatch(/^node:24(-|$)/);
    // The instances share the dependencies the install job put in the volume, and only read them.
    for (const name of instanceNames) expect(services[name]!.volumes).toEqual(expect.arrayContaining(["node-modules:/app/node_modules:ro"]));
    expect(services["gatehouse-install"]!.volumes).toEqual(expect.arrayContaining(["node-modules:/app/node_modules"]));
    expect(Object.keys(compose.volumes ?? {})).toEqual(expect.arrayContaining(["node-modules", "postgres-data"]));
    // Every value interpolates (a stray "$" would stop `docker compose` before anything starts).
    const walk = (value: unknown): void => {
      if (typeof value === "string") interpolate(value, {});
      else if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(compose);
  });

  test.each(instanceNames)("%s: every variable it sets is a configuration variable, and the configuration loads", (name) => {
    const service = services[name]!;
    const environment = containerEnvironment(service);
    const config = instanceConfig(name);
    // loadConfig keeps only the schema's keys: a variable missing from it is one the schema does not know.
    const unknown = Object.keys(environment).filter((key) => !Object.hasOwn(config, key));
    expect(unknown).toEqual([]);
    expect(config.NODE_ENV).toBe("production");
    expect(config.ROLE).toBe("all");
    expect(config.databaseKind).toBe("postgresql");
    // One balancer in front: its X-Forwarded-For entry is the client's address.
    expect(config.TRUST_PROXY).toBe(1);
    // The production rule of secrets.ts holds: the shared secrets are set (these would throw otherwise).
    expect(keyEncryptionSecret(config)).toBe(environment.KEY_ENCRYPTION_SECRET);
    expect(cookieSecrets(config).length).toBeGreaterThanOrEqual(1);
    expect(dpopNonceSecret(config)).toHaveLength(32);
  });

  test.each(instanceNames)("%s: the secrets come from the env file, never from the compose file", (name) => {
    const service = services[name]!;
    expect(envFilesOf(service)).toEqual(["deploy/production.env"]);
    const inline = Object.keys(environmentOf(service));
    expect(inline.filter((key) => SECRETS.includes(key))).toEqual([]);
    const fromFile = readEnvFile(path.join(ROOT, "deploy/production.env.example"));
    for (const secret of SECRETS) expect(fromFile[secret]).toEqual(expect.any(String));
    // Without the env file the instance must refuse to start: the secrets really come from there.
    const bare = loadConfig(environmentOf(service), { dotenv: false });
    expect(() => keyEncryptionSecret(bare)).toThrow(ConfigError);
    expect(() => cookieSecrets(bare)).toThrow(ConfigError);
    expect(() => dpopNonceSecret(bare)).toThrow(ConfigError);
    // No example value of a secret is written into the compose file.
    const text = fs.readFileSync(COMPOSE_FILE, "utf8");
    for (const secret of SECRETS) expect(text).not.toContain(fromFile[secret]!);
    // The env file an instance reads is the operator's copy, not a committed file.
    const tracked = spawnSync("git", ["ls-files", "--", "deploy"], { cwd: ROOT, encoding: "utf8" });
    if (tracked.status === 0) expect(tracked.stdout.split("\n")).not.toContain("deploy/production.env");
  });

  test("PostgreSQL: the password from its own env file, and DATABASE_URL points at that service with it", () => {
    const postgres = services.postgres!;
    expect(envFilesOf(postgres)).toEqual(["deploy/postgres.env"]);
    expect(Object.keys(environmentOf(postgres))).not.toContain("POSTGRES_PASSWORD");
    const { POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB } = containerEnvironment(postgres);
    expect(POSTGRES_PASSWORD).toEqual(expect.any(String));
    for (const name of instanceNames) {
      const url = new URL(instanceConfig(name).DATABASE_URL);
      expect(url.protocol).toBe("postgresql:");
      expect(url.hostname).toBe("postgres");
      expect(url.port).toBe("5432");
      expect(decodeURIComponent(url.username)).toBe(POSTGRES_USER);
      expect(decodeURIComponent(url.password)).toBe(POSTGRES_PASSWORD);
      expect(url.pathname).toBe(`/${POSTGRES_DB}`);
    }
  });

  test("Redis: every instance counts the gateway's rate limits in the redis service", () => {
    expect(commandOf(services.redis!).join(" ")).not.toMatch(/--port/);
    for (const name of instanceNames) {
      const config = instanceConfig(name);
      expect(config.REDIS_URL).toBeDefined();
      const url = new URL(config.REDIS_URL!);
      expect(url.hostname).toBe("redis");
      expect(url.port === "" ? "6379" : url.port).toBe("6379");
    }
  });

  test("ports: the instances expose PORT and GATEWAY_PORT and publish nothing; HAProxy publishes both, and ISSUER is its public URL", () => {
    const sections = haproxySections();
    const bindPort = (frontend: string) => {
      const lines = sections.get(`frontend ${frontend}`) ?? [];
      const binds = lines.filter((line) => line.startsWith("bind "));
      expect(binds).toHaveLength(1);
      return Number(/:(\d+)\b/.exec(binds[0]!)![1]);
    };
    const published = publishedPorts(services.haproxy!);
    expect(published.map((p) => p.container).sort()).toEqual([bindPort("authorization_server"), bindPort("gateway")].sort());
    for (const name of instanceNames) {
      const config = instanceConfig(name);
      expect(services[name]!.ports ?? []).toEqual([]);
      expect((services[name]!.expose ?? []).map(Number)).toEqual([config.PORT, config.GATEWAY_PORT]);
      const issuer = new URL(config.ISSUER);
      const hostPort = published.find((p) => p.container === bindPort("authorization_server"))!.host;
      expect(issuer.origin).toBe(`http://localhost:${hostPort}`);
      // Opaque tokens are introspected at the authorization server of the same instance.
      expect(config.GATEWAY_INTROSPECTION_URL).toBe(`http://127.0.0.1:${config.PORT}/introspect`);
    }
    for (const name of ["postgres", "redis", "gatehouse-install"]) expect(services[name]!.ports ?? []).toEqual([]);
  });

  test("health checks: every long-running service has one, each probing the right thing", () => {
    for (const [name, service] of Object.entries(services)) {
      if (oneShotNames.includes(name)) continue;
      expect([name, service.healthcheck?.disable ?? false]).toEqual([name, false]);
      const probe = service.healthcheck?.test;
      expect([name, Array.isArray(probe) ? probe[0] : probe]).toEqual([name, expect.stringMatching(/^CMD(-SHELL)?$/)]);
    }
    expect((services.postgres!.healthcheck!.test as string[]).join(" ")).toMatch(/^CMD pg_isready -h 127\.0\.0\.1 -U gatehouse -d gatehouse$/);
    expect(services.redis!.healthcheck!.test).toEqual(["CMD", "redis-cli", "ping"]);
    for (const name of instanceNames) {
      const probe = services[name]!.healthcheck!.test as string[];
      expect(probe.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
      expect(probe[3]).toContain("/readyz");
    }
    const sections = haproxySections();
    const health = sections.get("frontend health") ?? [];
    const healthPort = /:(\d+)\b/.exec(health.find((line) => line.startsWith("bind ")) ?? "")?.[1];
    const monitorUri = health.find((line) => line.startsWith("monitor-uri "))?.split(" ")[1];
    expect(health).toContain("monitor fail if { nbsrv(authorization_server) lt 1 } || { nbsrv(gateway) lt 1 }");
    const balancerProbe = (services.haproxy!.healthcheck!.test as string[]).join(" ");
    expect(balancerProbe).toContain(`/dev/tcp/127.0.0.1/${healthPort}`);
    expect(balancerProbe).toContain(`GET ${monitorUri} `);
  });

  test("the instances' health check passes only when /readyz answers 200 on both ports", async () => {
    const probe = (services[instanceNames[0]!]!.healthcheck!.test as string[])[3]!;
    const statuses = { auth: 200, gateway: 200 };
    const seen: string[] = [];
    const serve = (key: keyof typeof statuses) =>
      new Promise<http.Server>((resolve) => {
        const server = http.createServer((req, res) => {
          seen.push(`${key} ${req.url}`);
          res.writeHead(statuses[key]).end();
        });
        server.listen(0, "127.0.0.1", () => resolve(server));
      });
    const [auth, gateway] = await Promise.all([serve("auth"), serve("gateway")]);
    const run = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(NODE, ["-e", probe], {
          env: { PATH: process.env.PATH, PORT: String((auth.address() as AddressInfo).port), GATEWAY_PORT: String((gateway.address() as AddressInfo).port) },
          stdio: "ignore",
        });
        child.on("exit", (code) => resolve(code));
      });
    try {
      expect(await run()).toBe(0);
      expect(seen.sort()).toEqual(["auth /readyz", "gateway /readyz"]);
      statuses.gateway = 503;
      expect(await run()).toBe(1);
      statuses.gateway = 200;
      statuses.auth = 503;
      expect(await run()).toBe(1);
    } finally {
      auth.close();
      gateway.close();
    }
  });

  test("start order: each service waits for what it needs to be healthy (or, for the install job, done)", () => {
    for (const name of instanceNames) {
      expect(dependsOn(services[name]!)).toEqual({ "gatehouse-install": "service_completed_successfully", postgres: "service_healthy", redis: "service_healthy" });
    }
    expect(dependsOn(services.haproxy!)).toEqual(Object.fromEntries(instanceNames.map((name) => [name, "service_healthy"])));
    for (const [name, service] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependsOn(service))) {
        expect([name, target, target in services]).toEqual([name, target, true]);
        if (condition === "service_healthy") expect([target, services[target]!.healthcheck?.test !== undefined]).toEqual([target, true]);
        if (condition === "service_completed_successfully") expect(oneShotNames).toContain(target);
      }
    }
  });
});

describe("deploy/haproxy.cfg: the balancer", () => {
  const sections = haproxySections();

  test.each([
    ["authorization_server", "PORT"],
    ["gateway", "GATEWAY_PORT"],
  ] as const)("backend %s: round-robin over every instance at its %s, checked on /readyz", (backend, portKey) => {
    const lines = sections.get(`backend ${backend}`);
    expect(lines).toBeDefined();
    expect(lines).toContain("balance roundrobin");
    expect(lines).toContain("option httpchk");
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^http-check send meth GET uri \/readyz( |$)/), "http-check expect status 200"]));
    const servers = lines!.filter((line) => line.startsWith("server ")).map((line) => line.split(" "));
    expect(servers.map(([, name]) => name)).toEqual(instanceNames);
    for (const [, name, address, ...options] of servers) {
      expect(address).toBe(`${name}:${instanceConfig(name!)[portKey]}`);
      // Checked: on the server line, or by default-server in defaults.
      const defaults = sections.get("defaults")!.find((line) => line.startsWith("default-server ")) ?? "";
      expect([...options, ...defaults.split(" ")]).toContain("check");
    }
    // The frontend of that port sends everything to this backend.
    const frontend = sections.get(`frontend ${backend}`) ?? [];
    expect(frontend).toContain(`default_backend ${backend}`);
  });

  test("defaults: forwarded client address, redispatch, retries, and no resend of a non-idempotent request", () => {
    const defaults = sections.get("defaults")!;
    expect(defaults).toEqual(expect.arrayContaining(["mode http", "option forwardfor", expect.stringMatching(/^option redispatch( \d+)?$/), expect.stringMatching(/^retries [1-9]$/)]));
    expect(defaults).toEqual(expect.arrayContaining([expect.stringMatching(/^retry-on .*conn-failure/)]));
    // Docker's DNS, and a start that does not fail while an instance's name does not resolve yet.
    expect(defaults.find((line) => line.startsWith("default-server "))).toMatch(/resolvers docker .*init-addr last,libc,none/);
    expect(sections.get("resolvers docker")).toContain("nameserver dns 127.0.0.11:53");
    for (const frontend of ["authorization_server", "gateway"]) {
      const lines = sections.get(`frontend ${frontend}`)!;
      expect(lines).toContain("http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE }");
      // The hop Gatehouse trusts writes the scheme and host itself (a client's copy would otherwise be the rightmost entry).
      expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^http-request set-header X-Forwarded-Proto /), expect.stringMatching(/^http-request set-header X-Forwarded-Host /)]));
    }
  });

  test("haproxy -c accepts it (the only warnings: the instances' names do not resolve outside Docker)", () => {
    const check = spawnSync("haproxy", ["-c", "-f", HAPROXY_FILE], { encoding: "utf8" });
    if ((check.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
      console.warn("SKIPPED: haproxy is not installed, so deploy/haproxy.cfg was not validated with haproxy -c (.ci/run installs it)");
      return;
    }
    expect([check.status, check.stdout + check.stderr]).toEqual([0, expect.stringContaining("Configuration file is valid")]);
    const warnings = (check.stdout + check.stderr).split("\n").filter((line) => /\[(WARNING|ALERT)\]/.test(line));
    const unexpected = warnings.filter((line) => !new RegExp(`could not resolve address '(${instanceNames.join("|")})'`).test(line));
    expect(unexpected).toEqual([]);
  });
});
