// No token or secret appears in any log line: a running Gatehouse at LOG_LEVEL=debug is sent real and
// made-up tokens and secrets every way a client can send them — Authorization headers (Bearer, Basic),
// access_token in query strings, form bodies (client_secret, password, assertion, client_assertion,
// refresh_token, token), cookies — on both ports, successes and refusals alike; then every line the
// process wrote is searched for each of them, as sent and as encoded.
import http from "node:http";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";

const ORDERS = "https://orders.example.com";
const OPAQUE = "https://opaque.example.com";
const PASSWORD = "correct horse battery staple 7";
/** Made-up credentials, each one distinctive enough to be found anywhere. */
const FAKE = {
  bearer: "fake-bearer-Zq81vX0pLm2",
  queryToken: "fake-query-token-Hh37Kd0",
  refreshToken: "fake-refresh-token-Pp09Wq4",
  assertion: "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZSJ9.ZmFrZS1zaWduYXR1cmUtMTIz",
  clientAssertion: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnQtYXNzZXJ0aW9uIn0.ZmFrZS1jbGllbnQtYXNzZXJ0aW9u",
  clientSecret: "fake-client-secret-Tt52Ry8",
  password: "fake-password-Gg61Ns3",
  cookie: "fake-session-cookie-Bb44Jm7",
  apiKey: "fake-api-key-Cc83Lk2",
};

describe("no token or secret in any log line", () => {
  let db: FreshDatabase;
  let upstream: Upstream;
  let gatehouse: RunningGatehouse;
  let gateway: string;
  let client: { id: string; secret: string };
  let legacy: { id: string; secret: string };
  const real: string[] = [];

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    upstream = await startUpstream();
    ({ client, legacy } = await withServices(db, async (services) => {
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: OPAQUE, name: "Opaque", token_format: "opaque", token_check: "introspection", scopes: ["orders:read"] });
      await services.routes.apply(ORDERS, { path_prefix: "/orders", upstream: upstream.url });
      await services.routes.apply(ORDERS, { path_prefix: "/public", upstream: upstream.url, public: true });
      await services.routes.apply(OPAQUE, { path_prefix: "/opaque", upstream: upstream.url });
      await services.users.create({ username: "alice", password: PASSWORD });
      const machine = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      const old = await services.clients.create({ client_name: "legacy", grant_types: ["password", "refresh_token"], scopes: ["orders:read", "offline_access"] } as never);
      return { client: { id: machine.client.client_id, secret: machine.client_secret! }, legacy: { id: old.client.client_id, secret: old.client_secret! } };
    }));
    gatehouse = await startGatehouse(db, { LOG_LEVEL: "debug" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
  const form = (params: Record<string, string>) => new URLSearchParams(params).toString();

  /** One request on its own connection, whatever the answer. */
  function send(url: string, { method = "GET", headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(url, { method, agent: false, headers: { ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded", "content-length": String(Buffer.byteLength(body)) } : {}), ...headers } });
      request.on("response", (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, text }));
      });
      request.on("error", reject);
      request.end(body);
    });
  }

  async function issue(params: Record<string, string>, authorization = basic(client.id, client.secret)): Promise<Record<string, string>> {
    const answer = await send(`${gatehouse.issuer}/token`, { method: "POST", headers: { authorization }, body: form(params) });
    expect(answer.status).toBe(200);
    const tokens = JSON.parse(answer.text) as Record<string, string>;
    for (const name of ["access_token", "refresh_token", "id_token"]) if (tokens[name]) real.push(tokens[name]);
    return tokens;
  }

  test("sent every way to both servers, none of them is written", async () => {
    const cookie = `session=${FAKE.cookie}; _session=${FAKE.cookie}.sig; token=${FAKE.bearer}`;
    const jwt = (await issue({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS })).access_token!;
    const opaque = (await issue({ grant_type: "client_credentials", scope: "orders:read", resource: OPAQUE })).access_token!;
    const passwordTokens = await issue({ grant_type: "password", username: "alice", password: PASSWORD, scope: "offline_access orders:read", resource: ORDERS }, basic(legacy.id, legacy.secret));
    const refreshed = await issue({ grant_type: "refresh_token", refresh_token: passwordTokens.refresh_token! }, basic(legacy.id, legacy.secret));
    expect(refreshed.refresh_token).toBeDefined();

    const as = gatehouse.issuer;
    const requests: Array<[string, Parameters<typeof send>[1]]> = [
      // Token endpoint: every credential in the body, right and wrong, with cookies.
      [`${as}/token`, { method: "POST", headers: { cookie }, body: form({ grant_type: "client_credentials", client_id: client.id, client_secret: client.secret, scope: "orders:read", resource: ORDERS }) }],
      [`${as}/token`, { method: "POST", body: form({ grant_type: "client_credentials", client_id: client.id, client_secret: FAKE.clientSecret }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(client.id, FAKE.clientSecret) }, body: form({ grant_type: "client_credentials" }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(legacy.id, legacy.secret) }, body: form({ grant_type: "password", username: "alice", password: FAKE.password }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(legacy.id, legacy.secret) }, body: form({ grant_type: "password", username: FAKE.password, password: PASSWORD }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(legacy.id, legacy.secret) }, body: form({ grant_type: "refresh_token", refresh_token: FAKE.refreshToken }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(legacy.id, legacy.secret) }, body: form({ grant_type: "refresh_token", refresh_token: passwordTokens.refresh_token! }) }],
      [`${as}/token`, { method: "POST", headers: { authorization: basic(client.id, client.secret) }, body: form({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: FAKE.assertion }) }],
      [`${as}/token`, { method: "POST", body: form({ grant_type: "client_credentials", client_id: client.id, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: FAKE.clientAssertion }) }],
      [`${as}/token?access_token=${FAKE.queryToken}&client_secret=${FAKE.clientSecret}`, { method: "POST", headers: { authorization: `Bearer ${jwt}` }, body: form({ grant_type: "client_credentials" }) }],
      // Introspection and revocation of real tokens, and of made-up ones.
      [`${as}/introspect`, { method: "POST", headers: { authorization: basic(client.id, client.secret) }, body: form({ token: opaque }) }],
      [`${as}/introspect`, { method: "POST", headers: { authorization: basic(client.id, client.secret) }, body: form({ token: jwt, token_type_hint: "access_token" }) }],
      [`${as}/introspect`, { method: "POST", headers: { authorization: basic(client.id, FAKE.clientSecret) }, body: form({ token: FAKE.bearer }) }],
      [`${as}/revoke`, { method: "POST", headers: { authorization: basic(legacy.id, legacy.secret) }, body: form({ token: refreshed.refresh_token!, token_type_hint: "refresh_token" }) }],
      [`${as}/revoke`, { method: "POST", headers: { authorization: basic(client.id, client.secret) }, body: form({ token: FAKE.refreshToken }) }],
      // Bearer tokens in headers and queries, valid and not, with cookies.
      [`${as}/userinfo`, { headers: { authorization: `Bearer ${jwt}`, cookie } }],
      [`${as}/userinfo?access_token=${FAKE.queryToken}`, {}],
      [`${as}/userinfo`, { headers: { authorization: `Bearer ${FAKE.bearer}` } }],
      [`${as}/tokeninfo?access_token=${jwt}`, {}],
      [`${as}/tokeninfo?access_token=${FAKE.queryToken}`, {}],
      [`${as}/tokeninfo`, { method: "POST", body: form({ access_token: opaque }) }],
      [`${as}/tokeninfo`, { headers: { authorization: `Bearer ${FAKE.bearer}` } }],
      // Pages, the admin console and API, unknown paths: cookies, Basic credentials, secrets in the path and query.
      [`${as}/auth?client_id=${client.id}&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/cb&state=${FAKE.queryToken}`, { headers: { cookie } }],
      [`${as}/admin`, { headers: { cookie } }],
      [`${as}/admin/api/v1/clients`, { headers: { authorization: `Bearer ${jwt}`, cookie } }],
      [`${as}/admin/api/v1/clients`, { headers: { authorization: basic("admin", FAKE.password) } }],
      [`${as}/interaction/unknown-interaction/login`, { method: "POST", headers: { cookie }, body: form({ username: "alice", password: FAKE.password }) }],
      [`${as}/nowhere/${FAKE.assertion}?access_token=${FAKE.queryToken}&password=${FAKE.password}`, { headers: { authorization: basic("someone", FAKE.password), "x-api-key": FAKE.apiKey } }],
      // The gateway: tokens in the header and the query, valid, opaque, made up; cookies; secrets in bodies and headers.
      [`${gateway}/orders/1`, { headers: { authorization: `Bearer ${jwt}`, cookie, "x-api-key": FAKE.apiKey } }],
      [`${gateway}/orders/2?access_token=${jwt}`, {}],
      [`${gateway}/orders/3?access_token=${FAKE.queryToken}`, {}],
      [`${gateway}/orders/4`, { headers: { authorization: `Bearer ${FAKE.bearer}` } }],
      [`${gateway}/orders/5`, { headers: { authorization: `Bearer ${FAKE.assertion}` } }],
      [`${gateway}/orders/6`, { headers: { authorization: basic(client.id, client.secret) } }],
      [`${gateway}/orders/7`, { method: "POST", headers: { authorization: `Bearer ${jwt}`, cookie }, body: form({ client_secret: FAKE.clientSecret, password: FAKE.password, assertion: FAKE.assertion, refresh_token: FAKE.refreshToken }) }],
      [`${gateway}/opaque/1`, { headers: { authorization: `Bearer ${opaque}` } }],
      [`${gateway}/opaque/2`, { headers: { authorization: `Bearer ${FAKE.bearer}-opaque` } }],
      [`${gateway}/public/1?access_token=${FAKE.queryToken}`, { headers: { cookie, authorization: `Bearer ${FAKE.bearer}` } }],
      [`${gateway}/nowhere?access_token=${FAKE.queryToken}`, { headers: { authorization: `Bearer ${jwt}`, cookie } }],
    ];
    const statuses: number[] = [];
    for (const [url, init] of requests) statuses.push((await send(url, init)).status);
    // Successes and refusals both.
    expect(statuses.filter((s) => s < 300).length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s >= 400).length).toBeGreaterThan(10);
    await new Promise((r) => setTimeout(r, 300));

    const secrets = [
      ...real,
      ...Object.values(FAKE),
      client.secret,
      legacy.secret,
      PASSWORD,
      gatehouse.env.KEY_ENCRYPTION_SECRET!,
      ...gatehouse.env.COOKIE_SECRETS!.split(","),
      gatehouse.env.ADMIN_PASSWORD!,
    ];
    const encodings = (secret: string) => [secret, encodeURIComponent(secret), new URLSearchParams({ x: secret }).toString().slice(2)];
    const basics = [basic(client.id, client.secret), basic(legacy.id, legacy.secret), basic(client.id, FAKE.clientSecret), basic("someone", FAKE.password), basic("admin", FAKE.password)].map((b) => b.slice(6));

    const lines = gatehouse.output().split("\n").filter(Boolean);
    // The process did write about these requests: access lines, refusals, security events.
    expect(lines.filter((line) => line.includes('"msg":"access"')).length).toBeGreaterThanOrEqual(20);
    expect(lines.some((line) => line.includes('"msg":"gateway refused"'))).toBe(true);
    expect(lines.some((line) => line.includes('"event":"client_authentication_failed"'))).toBe(true);
    const leaks: string[] = [];
    for (const line of lines) {
      for (const secret of secrets) for (const form of encodings(secret)) if (line.includes(form)) leaks.push(`${secret.slice(0, 12)}… in ${line}`);
      for (const credentials of basics) if (line.includes(credentials)) leaks.push(`Basic credentials in ${line}`);
      // No JWT of any kind, and no Authorization value.
      if (/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(line)) leaks.push(`a JWT in ${line}`);
      if (/\b(Bearer|Basic) [A-Za-z0-9._~+/=-]{8,}/.test(line)) leaks.push(`an Authorization value in ${line}`);
    }
    expect(leaks).toEqual([]);
  });
});
