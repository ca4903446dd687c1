// Sign-in and consent pages against a running Gatehouse: over plain HTTP on both backends (throttling,
// CSRF and form refusals, remembered consent), then in headless Chromium (rendering, escaping, the
// Content-Security-Policy letting forms, form_post and logout reach the client).
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt } from "jose";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const API = "https://orders.example.com";
const CLIENT_NAME = "<script>window.pwned = true</script> Evil & Co";
const GENERIC = "Invalid username or password.";
const LOCKED = /Too many attempts\. Try again in \d+ (seconds|minutes)\./;
const MAX_FAILURES = 3;
const ACCOUNT_MAX_FAILURES = 6;
const ADDRESS_MAX_FAILURES = 5;
const password = (username: string) => `${username}-password-123`;

/** The client's side: records what reaches its redirect URIs. */
interface ClientApp {
  origin: string;
  hits: Array<{ method: string; url: URL; body: URLSearchParams }>;
  close(): Promise<void>;
}

async function clientApp(): Promise<ClientApp> {
  const hits: ClientApp["hits"] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      hits.push({ method: req.method!, url: new URL(req.url!, "http://client.invalid"), body: new URLSearchParams(body) });
      res.setHeader("content-type", "text/html");
      res.end("<!doctype html><title>Client</title><p>back at the client</p>");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Fixture {
  db: FreshDatabase;
  gatehouse: RunningGatehouse;
  client: ClientApp;
  clientId: string;
  userIds: Record<string, string>;
}

const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

async function setUp(backend: (typeof BACKENDS)[number]): Promise<Fixture> {
  const db = await freshDatabase(backend);
  const client = await clientApp();
  // TRUST_PROXY lets each test sign in from its own X-Forwarded-For address.
  // Quick-failure locking is off so that concurrent attempts are counted exactly (credentials.test.ts covers it).
  const gatehouse = await startGatehouse(db, {
    LOGIN_MAX_FAILURES: String(MAX_FAILURES),
    LOGIN_ACCOUNT_MAX_FAILURES: String(ACCOUNT_MAX_FAILURES),
    LOGIN_ADDRESS_MAX_FAILURES: String(ADDRESS_MAX_FAILURES),
    LOGIN_QUICK_FAILURE_MS: "0",
    TRUST_PROXY: "true",
  });
  const seeded = await withServices(db, async (services) => {
    await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
    await services.apis.apply({ identifier: API, name: "Orders API", scopes: ["orders:read"] });
    const userIds: Record<string, string> = {};
    for (const username of USERS) userIds[username] = (await services.users.create({ username, password: password(username) })).user.id;
    const { client: registered } = await services.clients.create({
      client_name: CLIENT_NAME,
      public: true,
      grant_types: ["authorization_code"],
      redirect_uris: [`${client.origin}/cb`],
      post_logout_redirect_uris: [`${client.origin}/logged-out`],
      scopes: ["orders:read"],
    });
    return { clientId: registered.client_id, userIds };
  });
  await configPropagation();
  return { db, gatehouse, client, ...seeded };
}

async function tearDown(fixture: Partial<Fixture>): Promise<void> {
  await fixture.gatehouse?.stop();
  await fixture.client?.close();
  await fixture.db?.drop();
}

function authorization(fixture: Fixture, extra: Record<string, string> = {}) {
  const verifier = crypto.randomBytes(32).toString("base64url");
  const state = crypto.randomBytes(8).toString("hex");
  const url = `${fixture.gatehouse.issuer}/authorize?${new URLSearchParams({
    client_id: fixture.clientId,
    response_type: "code",
    redirect_uri: `${fixture.client.origin}/cb`,
    scope: "openid profile email orders:read",
    resource: API,
    code_challenge: crypto.createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state,
    ...extra,
  })}`;
  return { url, verifier, state };
}

/** Redeems a code and returns the ID token's subject. */
async function subjectFor(fixture: Fixture, code: string, verifier: string): Promise<string> {
  const response = await fetch(`${fixture.gatehouse.issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: `${fixture.client.origin}/cb`,
      client_id: fixture.clientId,
    }),
  });
  const tokens = (await response.json()) as { id_token?: string };
  expect(response.status).toBe(200);
  return decodeJwt(tokens.id_token!).sub!;
}

/** The scripted browser, signing in from a given source address. */
class RemoteUserAgent extends UserAgent {
  private readonly address: string;

  constructor(address: string) {
    super();
    this.address = address;
  }

  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("x-forwarded-for", this.address);
    return super.request(url, { ...init, headers });
  }
}

let addresses = 0;
const nextAddress = () => `203.0.113.${++addresses}`;

describe.each(BACKENDS)("interactions over HTTP on %s", (backend) => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await setUp(backend);
  });

  afterAll(() => tearDown(fixture ?? {}));

  async function loginPage(ua: UserAgent, extra: Record<string, string> = {}) {
    const flow = authorization(fixture, extra);
    const { page } = await ua.follow(flow.url, fixture.gatehouse.issuer);
    expect(page?.status).toBe(200);
    expect(page!.html).toContain("<h1>Sign in</h1>");
    return { page: page!, flow, uid: new URL(page!.url).pathname.split("/").pop()! };
  }

  test("signs in with the user's id, asks for consent once and remembers it across sessions", async () => {
    const issuer = fixture.gatehouse.issuer;
    const ua = new RemoteUserAgent(nextAddress());
    const { page, flow } = await loginPage(ua);
    const consent = await ua.submit(page, { username: "alice", password: password("alice") }, issuer);
    expect(consent.page?.status).toBe(200);
    expect(consent.page!.html).toContain("Allow access?");
    expect(consent.page!.html).toContain("Read your orders");
    expect(consent.page!.html).toContain("Orders API");
    expect(consent.page!.html).toContain("&lt;script&gt;window.pwned = true&lt;/script&gt; Evil &amp; Co");
    expect(consent.page!.html).not.toContain("<script>");

    const done = await ua.submit(consent.page!, {}, issuer);
    const callback = new URL(done.redirect!);
    expect(callback.origin + callback.pathname).toBe(`${fixture.client.origin}/cb`);
    expect(callback.searchParams.get("state")).toBe(flow.state);
    expect(await subjectFor(fixture, callback.searchParams.get("code")!, flow.verifier)).toBe(fixture.userIds.alice);

    const stored = await withServices(fixture.db, (_services, storage) => storage.consents.find(fixture.userIds.alice!, fixture.clientId));
    expect(stored).toMatchObject({ scopes: expect.arrayContaining(["openid", "profile", "email"]), resources: { [API]: ["orders:read"] } });

    // A new browser session: sign in again, no consent page this time.
    const again = new RemoteUserAgent(nextAddress());
    const second = await loginPage(again);
    const result = await again.submit(second.page, { username: "alice", password: password("alice") }, issuer);
    expect(result.page).toBeUndefined();
    expect(new URL(result.redirect!).searchParams.get("code")).toBeTruthy();
  });

  test("a wrong password and an unknown username get the same answer", async () => {
    const ua = new RemoteUserAgent(nextAddress());
    const { page } = await loginPage(ua);
    const wrong = await ua.submit(page, { username: "bob", password: "not-the-password" }, fixture.gatehouse.issuer);
    const unknown = await ua.submit(page, { username: "nobody", password: "not-the-password" }, fixture.gatehouse.issuer);
    expect(wrong.page?.status).toBe(400);
    expect(unknown.page?.status).toBe(400);
    const alert = (html: string) => /<div class="alert"[\s\S]*?<\/div>/.exec(html)?.[0];
    expect(alert(wrong.page!.html)).toContain(GENERIC);
    expect(alert(wrong.page!.html)).toBe(alert(unknown.page!.html));
  });

  test("a stranger's failed guesses lock the stranger's address for that account, not the owner", async () => {
    const issuer = fixture.gatehouse.issuer;
    // Two strangers: one guesses carol's password, one an unknown username's.
    const strangers = [new RemoteUserAgent(nextAddress()), new RemoteUserAgent(nextAddress())];
    const pages = [(await loginPage(strangers[0]!)).page, (await loginPage(strangers[1]!)).page];
    for (let i = 0; i < MAX_FAILURES; i++) {
      for (const [index, username] of ["carol", "ghost-user"].entries()) {
        expect((await strangers[index]!.submit(pages[index]!, { username, password: "not-the-password" }, issuer)).page?.status).toBe(400);
      }
    }
    // The stranger now waits, even with the right password: it is not checked.
    const locked = await strangers[0]!.submit(pages[0]!, { username: "carol", password: password("carol") }, issuer);
    expect(locked.page?.status).toBe(429);
    expect(Number(locked.page!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(locked.page!.html).toMatch(LOCKED);
    expect(locked.page!.html).not.toContain(GENERIC);
    // An unknown username that failed as often reads exactly the same.
    const ghost = await strangers[1]!.submit(pages[1]!, { username: "ghost-user", password: "whatever" }, issuer);
    expect(ghost.page?.status).toBe(429);
    const normalized = (html: string) => html.replace(/ghost-user/g, "carol").replace(/\/interaction\/[^/"]+/g, "/interaction/UID").replace(/name="csrf" value="[^"]*"/g, "");
    expect(normalized(ghost.page!.html)).toBe(normalized(locked.page!.html));
    // Carol, from her own address, is not slowed at all.
    const owner = new RemoteUserAgent(nextAddress());
    const own = await loginPage(owner);
    expect((await owner.submit(own.page, { username: "carol", password: password("carol") }, issuer)).page?.html).toContain("Allow access?");
  });

  test("30 simultaneous guesses check exactly LOGIN_MAX_FAILURES passwords; the right one, sent 16th, is refused", async () => {
    const issuer = fixture.gatehouse.issuer;
    const ua = new RemoteUserAgent(nextAddress());
    const { uid, page } = await loginPage(ua);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const attempts = Array.from({ length: 30 }, (_, i) =>
      ua.request(`${issuer}/interaction/${uid}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, username: "grace", password: i === 15 ? password("grace") : `wrong-${i}` }),
      }),
    );
    const statuses = (await Promise.all(attempts)).map((r) => r.status);
    expect(statuses.filter((s) => s === 400)).toHaveLength(MAX_FAILURES);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - MAX_FAILURES);
    expect(statuses[15]).toBe(429);
  });

  test("guesses spread over many addresses reach the account ceiling, which locks every address", async () => {
    const issuer = fixture.gatehouse.issuer;
    let failures = 0;
    while (failures < ACCOUNT_MAX_FAILURES) {
      const ua = new RemoteUserAgent(nextAddress());
      const { page } = await loginPage(ua);
      for (let i = 0; i < MAX_FAILURES - 1 && failures < ACCOUNT_MAX_FAILURES; i++, failures++) {
        expect((await ua.submit(page, { username: "heidi", password: "not-the-password" }, issuer)).page?.status).toBe(400);
      }
    }
    const owner = new RemoteUserAgent(nextAddress());
    const { page } = await loginPage(owner);
    const locked = await owner.submit(page, { username: "heidi", password: password("heidi") }, issuer);
    expect(locked.page?.status).toBe(429);
    // An administrator lifts it.
    await withServices(fixture.db, (services) => services.users.unlock("heidi"));
    expect((await owner.submit(page, { username: "heidi", password: password("heidi") }, issuer)).page?.html).toContain("Allow access?");
  });

  test("a source address reaches its ceiling across usernames; other addresses are not affected", async () => {
    const address = nextAddress();
    const ua = new RemoteUserAgent(address);
    const { page } = await loginPage(ua);
    for (let i = 0; i < ADDRESS_MAX_FAILURES; i++) {
      expect((await ua.submit(page, { username: `unknown-${i}`, password: "not-the-password" }, fixture.gatehouse.issuer)).page?.status).toBe(400);
    }
    const locked = await ua.submit(page, { username: "dave", password: password("dave") }, fixture.gatehouse.issuer);
    expect(locked.page?.status).toBe(429);

    const elsewhere = new RemoteUserAgent(nextAddress());
    const other = await loginPage(elsewhere);
    const signedIn = await elsewhere.submit(other.page, { username: "dave", password: password("dave") }, fixture.gatehouse.issuer);
    expect(signedIn.page?.html).toContain("Allow access?");
  });

  test("refuses posts without the interaction's CSRF token, with another's, or from another origin", async () => {
    const issuer = fixture.gatehouse.issuer;
    const ua = new RemoteUserAgent(nextAddress());
    const { uid } = await loginPage(ua);
    const other = await loginPage(new RemoteUserAgent(nextAddress()));
    const foreignToken = /name="csrf" value="([^"]+)"/.exec(other.page.html)![1]!;
    const ownToken = /name="csrf" value="([^"]+)"/.exec((await ua.request(`${issuer}/interaction/${uid}`).then((r) => r.text())))![1]!;
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      ua.request(`${issuer}/interaction/${uid}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(body),
      });
    const credentials = { username: "erin", password: password("erin") };

    const missing = await post(credentials);
    expect(missing.status).toBe(403);
    expect(missing.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await missing.text()).toContain("invalid_request");
    expect((await post({ ...credentials, csrf: foreignToken })).status).toBe(403);
    expect((await post({ ...credentials, csrf: ownToken }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ ...credentials, csrf: ownToken }, { origin: "null", "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ ...credentials, csrf: ownToken }, { "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await post({ ...credentials, csrf: "x" }, { origin: issuer })).status).toBe(403);
    // The same form with its token goes through; Origin "null" is what browsers send under no-referrer.
    const accepted = await post({ ...credentials, csrf: ownToken }, { origin: "null", "sec-fetch-site": "same-origin" });
    expect(accepted.status).toBe(303);
  });

  test("refuses repeated fields, oversized bodies and other content types", async () => {
    const issuer = fixture.gatehouse.issuer;
    const ua = new RemoteUserAgent(nextAddress());
    const { uid, page } = await loginPage(ua);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const post = (body: string, type = "application/x-www-form-urlencoded") =>
      ua.request(`${issuer}/interaction/${uid}/login`, { method: "POST", headers: { "content-type": type }, body });

    expect((await post(`csrf=${csrf}&username=frank&username=alice&password=x`)).status).toBe(400);
    expect((await post(`csrf=${csrf}&username=frank&password=${"x".repeat(20_000)}`)).status).toBe(413);
    expect((await post(JSON.stringify({ csrf, username: "frank" }), "application/json")).status).toBe(415);
  });

  test("cancelling sends access_denied to the client", async () => {
    const ua = new RemoteUserAgent(nextAddress());
    const { uid, flow } = await loginPage(ua);
    const result = await ua.follow(`${fixture.gatehouse.issuer}/interaction/${uid}/abort`, fixture.gatehouse.issuer);
    const callback = new URL(result.redirect!);
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("state")).toBe(flow.state);
  });

  test("a page for another interaction than the browser's is refused, as is an unknown one", async () => {
    const ua = new RemoteUserAgent(nextAddress());
    await loginPage(ua);
    const stale = await ua.request(`${fixture.gatehouse.issuer}/interaction/not-this-one`);
    expect(stale.status).toBe(400);
    expect(await stale.text()).toContain("out of date");
    const none = await new UserAgent().request(`${fixture.gatehouse.issuer}/interaction/whatever`);
    expect(none.status).toBe(400);
    expect(await none.text()).toContain("This sign-in has expired");
    expect(none.headers.get("cache-control")).toBe("no-store");
  });
});

describe("interactions in Chromium", () => {
  let fixture: Fixture;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    fixture = await setUp("sqlite");
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await tearDown(fixture ?? {});
  });

  /** A page in a browser of its own, at a source address of its own unless one is given. */
  async function newPage(address = nextAddress()): Promise<Page> {
    const context = await browser.newContext({ extraHTTPHeaders: { "x-forwarded-for": address } });
    contexts.push(context);
    return context.newPage();
  }

  async function signIn(page: Page, username: string, secret = password(username)) {
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(secret);
    return Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Sign in" }).click()]).then(([response]) => response);
  }

  const callbackOf = (page: Page) => new URL(page.url());

  test("the login page renders with its security headers and refuses a post without the form's token", async () => {
    const page = await newPage();
    const response = await page.goto(authorization(fixture).url);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("Sign in · Gatehouse");
    await expect(page.getByRole("heading", { name: "Sign in" }).isVisible()).resolves.toBe(true);
    expect(await page.locator(".lead").textContent()).toContain(CLIENT_NAME);

    const headers = response!.headers();
    const csp = headers["content-security-policy"]!;
    for (const directive of ["default-src 'none'", "script-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).toContain(`form-action 'self' ${fixture.client.origin}`);
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    expect(headers["cache-control"]).toBe("no-store");
    // The stylesheet loaded under that policy.
    expect(await page.locator("button.primary").evaluate((b) => getComputedStyle(b).borderRadius)).toBe("8px");
    await page.screenshot({ path: "/tmp/gatehouse-login.png", fullPage: true });

    const forged = await page.request.post(`${page.url()}/login`, { form: { username: "alice", password: password("alice") } });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain("Something went wrong");
  });

  test("a wrong password shows the generic message; after LOGIN_MAX_FAILURES the page says when to try again", async () => {
    const address = nextAddress();
    for (let i = 0; i < MAX_FAILURES; i++) {
      const page = await newPage(address);
      await page.goto(authorization(fixture).url);
      const response = await signIn(page, "bob", "not-the-password");
      expect(response?.status()).toBe(400);
      await expect(page.getByRole("alert").textContent()).resolves.toContain(GENERIC);
      await expect(page.getByRole("alert").textContent()).resolves.not.toMatch(LOCKED);
      expect(await page.getByLabel("Username").inputValue()).toBe("bob");
    }
    const page = await newPage(address);
    await page.goto(authorization(fixture).url);
    const response = await signIn(page, "bob");
    expect(response?.status()).toBe(429);
    const alert = await page.getByRole("alert").textContent();
    expect(alert).toMatch(LOCKED);
    await page.screenshot({ path: "/tmp/gatehouse-login-locked.png", fullPage: true });
  });

  test("consent lists scope descriptions, escapes the client name and returns a code for the user's id", async () => {
    const page = await newPage();
    const flow = authorization(fixture);
    await page.goto(flow.url);
    await signIn(page, "frank");
    expect(await page.title()).toBe("Allow access · Gatehouse");
    const text = await page.locator("main").innerText();
    for (const description of ["Sign you in with your account", "See your profile", "See your email address", "Read your orders", "Orders API"]) {
      expect(text).toContain(description);
    }
    expect(text).toContain(CLIENT_NAME);
    expect(await page.locator("script").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
    await page.screenshot({ path: "/tmp/gatehouse-consent.png", fullPage: true });

    // Chromium applies form-action to the redirect to the client: it must be allowed for this to land.
    await Promise.all([page.waitForURL(`${fixture.client.origin}/cb?**`), page.getByRole("button", { name: "Allow" }).click()]);
    const callback = callbackOf(page);
    expect(callback.searchParams.get("state")).toBe(flow.state);
    expect(await subjectFor(fixture, callback.searchParams.get("code")!, flow.verifier)).toBe(fixture.userIds.frank);

    // form_post: signed in and consented, oidc-provider's auto-submitting page must run under the CSP.
    const formPost = authorization(fixture, { response_mode: "form_post" });
    const before = fixture.client.hits.length;
    await Promise.all([page.waitForURL(`${fixture.client.origin}/cb`), page.goto(formPost.url)]);
    const posted = fixture.client.hits.slice(before).find((hit) => hit.method === "POST");
    expect(posted?.body.get("state")).toBe(formPost.state);
    expect(posted?.body.get("code")).toBeTruthy();

    // RP-initiated logout: the confirmation page, then back to the client's post-logout URI.
    const logout = `${fixture.gatehouse.issuer}/logout?${new URLSearchParams({ client_id: fixture.clientId, post_logout_redirect_uri: `${fixture.client.origin}/logged-out`, state: "bye" })}`;
    await page.goto(logout);
    expect(await page.title()).toBe("Sign out · Gatehouse");
    await Promise.all([page.waitForURL(`${fixture.client.origin}/logged-out?**`), page.getByRole("button", { name: "Yes, sign me out" }).click()]);
    expect(callbackOf(page).searchParams.get("state")).toBe("bye");
    await page.goto(authorization(fixture).url);
    expect(await page.title()).toBe("Sign in · Gatehouse");
  });

  test("denying consent sends access_denied; logging out without a redirect shows the signed-out page", async () => {
    const page = await newPage();
    const flow = authorization(fixture);
    await page.goto(flow.url);
    await signIn(page, "erin");
    await Promise.all([page.waitForURL(`${fixture.client.origin}/cb?**`), page.getByRole("button", { name: "Deny" }).click()]);
    expect(callbackOf(page).searchParams.get("error")).toBe("access_denied");
    expect(callbackOf(page).searchParams.get("state")).toBe(flow.state);

    await page.goto(`${fixture.gatehouse.issuer}/logout`);
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Yes, sign me out" }).click()]);
    expect(await page.title()).toBe("Signed out · Gatehouse");
    expect(await page.getByRole("heading").textContent()).toBe("Signed out");
  });
});
