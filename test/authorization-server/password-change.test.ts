// The required password change (password_change_required) against a running Gatehouse: the first
// start's generated admin password, the "Choose a new password" page after a right password (field
// errors, CSRF and origin checks, reachable only after the password check of its own interaction), the
// new password working and the old one not, the password grant refusing until the change, and what sets
// and clears the flag; over plain HTTP on both backends, then in headless Chromium through the console,
// with screenshots in /tmp/gatehouse-password-change/.
import crypto from "node:crypto";
import fs from "node:fs";
import { decodeJwt } from "jose";
import { chromium, type Browser, type Page } from "playwright-core";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const SHOTS = "/tmp/gatehouse-password-change";
const API = "https://orders.example.com";
const REDIRECT_URI = "http://localhost:9/cb";
const GIVEN = "an administrator's temporary password";
const CHOSEN = "a password the user chose 42";
const GENERIC = "Invalid username or password.";
const MUST_CHANGE = "the password must be changed: sign in on the login page first";

/** The password the first start printed. */
function printedPassword(gatehouse: RunningGatehouse): string {
  const output = gatehouse.output();
  expect(output).toContain("must be changed at the first sign-in");
  const match = /created admin user "admin" with the password\n\n\s+(\S+)\n/.exec(output);
  expect(match).not.toBeNull();
  return match![1]!;
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
const fieldError = (html: string, field: string) => new RegExp(`<p class="field-error" id="${field}-error">([^<]*)</p>`).exec(html)?.[1];

/** The scripted browser, signing in from a source address of its own (TRUST_PROXY), so throttling stays out of the way. */
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
const browserAgent = () => new RemoteUserAgent(`198.51.100.${++addresses}`);

interface Fixture {
  db: FreshDatabase;
  gatehouse: RunningGatehouse;
  web: { id: string; secret: string };
  legacy: { id: string; secret: string };
}

async function setUp(backend: (typeof BACKENDS)[number]): Promise<Fixture> {
  const db = await freshDatabase(backend);
  // No ADMIN_PASSWORD: the first start generates the admin's password and prints it.
  const gatehouse = await startGatehouse(db, { ADMIN_PASSWORD: "", TRUST_PROXY: "true", LOGIN_QUICK_FAILURE_MS: "0" });
  const seeded = await withServices(db, async (services) => {
    await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
    await services.apis.apply({ identifier: API, name: "Orders API", scopes: ["orders:read"] });
    const web = await services.clients.create({ client_name: "Orders web", grant_types: ["authorization_code"], redirect_uris: [REDIRECT_URI], scopes: ["orders:read"] });
    const legacy = await services.clients.create({ client_name: "Legacy app", grant_types: ["password"], scopes: ["orders:read"] } as never);
    return { web: { id: web.client.client_id, secret: web.client_secret! }, legacy: { id: legacy.client.client_id, secret: legacy.client_secret! } };
  });
  await configPropagation();
  return { db, gatehouse, ...seeded };
}

async function tearDown(fixture: Partial<Fixture>): Promise<void> {
  await fixture.gatehouse?.stop();
  await fixture.db?.drop();
}

const basic = (client: { id: string; secret: string }) => `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString("base64")}`;

describe.each(BACKENDS)("required password change over HTTP on %s", (backend) => {
  let fixture: Fixture;
  let issuer: string;

  beforeAll(async () => {
    fixture = await setUp(backend);
    issuer = fixture.gatehouse.issuer;
  });

  afterAll(() => tearDown(fixture ?? {}));

  function authorization() {
    const verifier = crypto.randomBytes(32).toString("base64url");
    const url = `${issuer}/authorize?${new URLSearchParams({
      client_id: fixture.web.id,
      response_type: "code",
      redirect_uri: REDIRECT_URI,
      scope: "openid profile orders:read",
      resource: API,
      code_challenge: crypto.createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    })}`;
    return { url, verifier };
  }

  async function loginPage(ua: UserAgent) {
    const flow = authorization();
    const { page } = await ua.follow(flow.url, issuer);
    expect(page!.html).toContain("<h1>Sign in</h1>");
    return { page: page!, flow, uid: new URL(page!.url).pathname.split("/").pop()! };
  }

  /** Signs in with a password that must be changed: answers the "Choose a new password" page. */
  async function changePage(ua: UserAgent, username: string, password: string) {
    const login = await loginPage(ua);
    const result = await ua.submit(login.page, { username, password }, issuer);
    expect(result.page?.status).toBe(200);
    expect(result.page!.html).toContain("<h1>Choose a new password</h1>");
    return { ...login, page: result.page! };
  }

  /** Follows a sign-in that ended in consent or at the client to its code, redeemed for tokens. */
  async function tokensAfter(ua: UserAgent, result: Awaited<ReturnType<UserAgent["follow"]>>, verifier: string) {
    let redirect = result.redirect;
    if (!redirect) {
      expect(result.page!.html).toContain("Allow access?");
      redirect = (await ua.submit(result.page!, {}, issuer)).redirect;
    }
    const code = new URL(redirect!).searchParams.get("code")!;
    const response = await fetch(`${issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(fixture.web), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI, resource: API }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { access_token: string; id_token: string };
  }

  async function introspect(token: string, client = fixture.web) {
    const response = await fetch(`${issuer}/introspect`, {
      method: "POST",
      headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }),
    });
    return (await response.json()) as { active: boolean; sub?: string };
  }

  async function passwordGrant(username: string, password: string) {
    const response = await fetch(`${issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(fixture.legacy), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username, password, scope: "orders:read", resource: API }),
    });
    return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string; error_description?: string } };
  }

  const user = (username: string) => withServices(fixture.db, (services) => services.users.get(username));
  const createUser = (username: string, input: Record<string, unknown> = { password: GIVEN, password_change_required: true }) =>
    withServices(fixture.db, async (services) => (await services.users.create({ username, ...input })).user);

  test("the bootstrap admin signs in with the printed password, must choose a new one, then is signed in; after, only the new one works", async () => {
    const printed = printedPassword(fixture.gatehouse);
    const admin = await user("admin");
    expect(admin.password_change_required).toBe(true);

    const ua = browserAgent();
    const { page, flow } = await changePage(ua, "admin", printed);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.html).toContain("<strong>admin</strong>");
    expect(page.html).not.toContain(printed);
    const done = await ua.submit(page, { new_password: CHOSEN, confirm_password: CHOSEN }, issuer);
    const tokens = await tokensAfter(ua, done, flow.verifier);
    expect(decodeJwt(tokens.id_token).sub).toBe(admin.id);
    // No "not before" mark was written: the tokens of this very sign-in are good.
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, sub: admin.id });

    expect((await user("admin")).password_change_required).toBe(false);
    const audit = await withServices(fixture.db, (services) => services.audit.list({ entity_type: "user", entity_id: "admin" }));
    expect(audit.items[0]).toMatchObject({ actor_kind: "user", actor: "admin", action: "change_password", changes: { password_change_required: false } });

    // The printed password opens nothing any more; the new one signs in without the change page.
    const later = browserAgent();
    const again = await loginPage(later);
    const refused = await later.submit(again.page, { username: "admin", password: printed }, issuer);
    expect(refused.page?.status).toBe(400);
    expect(refused.page!.html).toContain(GENERIC);
    const signedIn = await later.submit(again.page, { username: "admin", password: CHOSEN }, issuer);
    expect(signedIn.page?.html ?? "").not.toContain("Choose a new password");
    await tokensAfter(later, signedIn, again.flow.verifier);
  });

  test("a new password that is too short, not repeated the same, or the current one is refused beside its field", async () => {
    await createUser("tess");
    const ua = browserAgent();
    const { page } = await changePage(ua, "tess", GIVEN);

    const short = await ua.submit(page, { new_password: "too short", confirm_password: "too short" }, issuer);
    expect(short.page?.status).toBe(400);
    expect(fieldError(short.page!.html, "new_password")).toBe("Must be at least 12 characters.");
    expect(fieldError(short.page!.html, "confirm_password")).toBeUndefined();
    expect(short.page!.html).toMatch(/id="new_password"[^>]*aria-invalid="true"/);

    const mismatch = await ua.submit(page, { new_password: CHOSEN, confirm_password: `${CHOSEN}!` }, issuer);
    expect(mismatch.page?.status).toBe(400);
    expect(fieldError(mismatch.page!.html, "confirm_password")).toBe("Does not match the new password.");
    expect(fieldError(mismatch.page!.html, "new_password")).toBeUndefined();

    const both = await ua.submit(page, { new_password: "short", confirm_password: "" }, issuer);
    expect(fieldError(both.page!.html, "new_password")).toBe("Must be at least 12 characters.");
    expect(fieldError(both.page!.html, "confirm_password")).toBe("Repeat the new password.");

    const unchanged = await ua.submit(page, { new_password: GIVEN, confirm_password: GIVEN }, issuer);
    expect(unchanged.page?.status).toBe(400);
    expect(fieldError(unchanged.page!.html, "new_password")).toBe("Must differ from the current password.");

    // No page ever holds a password, old or typed.
    for (const answer of [short, mismatch, both, unchanged]) {
      expect(answer.page!.html).not.toContain(GIVEN);
      expect(answer.page!.html).not.toContain(CHOSEN);
    }
    expect((await user("tess")).password_change_required).toBe(true);
    // The form still works after its errors.
    const done = await ua.submit(unchanged.page!, { new_password: CHOSEN, confirm_password: CHOSEN }, issuer);
    expect(done.page?.html ?? done.redirect).toMatch(/Allow access\?|code=/);
    expect((await user("tess")).password_change_required).toBe(false);
  });

  test("the change form is refused without its CSRF token, with another interaction's, or from another origin", async () => {
    await createUser("cyril");
    const ua = browserAgent();
    const { uid, page } = await changePage(ua, "cyril", GIVEN);
    const other = await loginPage(browserAgent());
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      ua.request(`${issuer}/interaction/${uid}/password`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(body),
      });
    const fields = { new_password: CHOSEN, confirm_password: CHOSEN };
    const own = csrfOf(page.html);

    const missing = await post(fields);
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain("This form has expired or was not sent from this site.");
    expect((await post({ ...fields, csrf: csrfOf(other.page.html) })).status).toBe(403);
    expect((await post({ ...fields, csrf: own }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ ...fields, csrf: own }, { origin: "null", "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ ...fields, csrf: own }, { "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await user("cyril")).password_change_required).toBe(true);
    // The same form with its token, from the issuer's origin, goes through.
    const accepted = await post({ ...fields, csrf: own }, { origin: issuer, "sec-fetch-site": "same-origin" });
    expect(accepted.status).toBe(303);
    expect((await user("cyril")).password_change_required).toBe(false);
  });

  test("the change page is not reached before the password check, nor for another interaction, nor once the password was reset", async () => {
    await createUser("mallory");
    const ua = browserAgent();
    const { uid, page } = await loginPage(ua);
    const post = (agent: UserAgent, target: string, csrf: string) =>
      agent.request(`${issuer}/interaction/${target}/password`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: issuer },
        body: new URLSearchParams({ csrf, new_password: CHOSEN, confirm_password: CHOSEN }),
      });

    // No password check yet: the form is refused and the page is the login page.
    const early = await post(ua, uid, csrfOf(page.html));
    expect(early.status).toBe(400);
    expect(await early.text()).toContain("Sign in with your current password first.");
    expect(await (await ua.request(`${issuer}/interaction/${uid}`)).text()).toContain("<h1>Sign in</h1>");
    // A wrong password changes nothing.
    const wrong = await ua.submit(page, { username: "mallory", password: "not the password at all" }, issuer);
    expect(wrong.page!.html).toContain(GENERIC);
    expect((await post(ua, uid, csrfOf(page.html))).status).toBe(400);

    // Another browser passed the check in its own interaction; this one's cookie does not reach it.
    const owner = browserAgent();
    const passed = await changePage(owner, "mallory", GIVEN);
    const foreign = await post(ua, passed.uid, csrfOf(passed.page.html));
    expect(foreign.status).toBe(400);
    expect(await foreign.text()).toContain("out of date");
    const stranger = await post(new UserAgent(), passed.uid, csrfOf(passed.page.html));
    expect(stranger.status).toBe(400);
    // Nor does the owner's check carry over to the owner's other interaction.
    const second = await loginPage(owner);
    expect((await post(owner, second.uid, csrfOf(second.page.html))).status).toBe(400);
    expect((await user("mallory")).password_change_required).toBe(true);
  });

  test("an administrator's reset between the check and the change sends the user back to sign in", async () => {
    await createUser("quinn");
    const ua = browserAgent();
    const { page } = await changePage(ua, "quinn", GIVEN);
    await withServices(fixture.db, (services) => services.users.setPassword("quinn", `${GIVEN} 2`, { temporary: true }));
    const result = await ua.submit(page, { new_password: CHOSEN, confirm_password: CHOSEN }, issuer);
    expect(result.page?.status).toBe(400);
    expect(result.page!.html).toContain("<h1>Sign in</h1>");
    expect(result.page!.html).toContain("Sign in again with your current password.");
    expect((await user("quinn")).password_change_required).toBe(true);
    // The page itself says the same from now on; signing in again leads to the change page.
    expect(await (await ua.request(page.url)).text()).toContain("Sign in again with your current password.");
    const again = await ua.submit(result.page!, { username: "quinn", password: `${GIVEN} 2` }, issuer);
    expect(again.page!.html).toContain("<h1>Choose a new password</h1>");
  });

  test("the password grant refuses a user who must change their password, once the password is verified, and accepts after the change", async () => {
    await createUser("gary");
    expect(await passwordGrant("gary", "not the password at all")).toMatchObject({ status: 400, body: { error: "invalid_grant", error_description: "the username or password is wrong" } });
    expect(await passwordGrant("gary", GIVEN)).toMatchObject({ status: 400, body: { error: "invalid_grant", error_description: MUST_CHANGE } });

    const ua = browserAgent();
    const { page } = await changePage(ua, "gary", GIVEN);
    await ua.submit(page, { new_password: CHOSEN, confirm_password: CHOSEN }, issuer);
    expect((await passwordGrant("gary", GIVEN)).body.error_description).toBe("the username or password is wrong");
    const granted = await passwordGrant("gary", CHOSEN);
    expect(granted.status).toBe(200);
    expect(await introspect(granted.body.access_token!, fixture.legacy)).toMatchObject({ active: true });
  });

  test("what sets the flag and what clears it: generated and temporary passwords set it, a given one clears it, and it survives export and apply", async () => {
    await withServices(fixture.db, async (services) => {
      const generated = await services.users.create({ username: "gen" });
      expect(generated.user.password_change_required).toBe(true);
      await expect(services.users.create({ username: "gen2", password_change_required: false })).rejects.toThrow(/generated password must be changed/);
      expect((await services.users.create({ username: "given", password: GIVEN })).user.password_change_required).toBe(false);

      await services.users.setPassword("given", GIVEN, { temporary: true });
      expect((await services.users.get("given")).password_change_required).toBe(true);
      await services.users.setPassword("given", CHOSEN);
      expect((await services.users.get("given")).password_change_required).toBe(false);
      await services.users.resetPassword("given");
      expect((await services.users.get("given")).password_change_required).toBe(true);

      // A new password through update clears it unless asked for; the flag on its own sets it.
      expect((await services.users.update("given", { password: CHOSEN })).password_change_required).toBe(false);
      expect((await services.users.update("given", { claims: { name: "Given" } })).password_change_required).toBe(false);
      expect((await services.users.update("given", { password_change_required: true })).password_change_required).toBe(true);
      expect((await services.users.update("given", { claims: { name: "Still given" } })).password_change_required).toBe(true);

      // The declarative file: the export writes the requirement, and applying it changes nothing.
      const exported = await services.declarative.export();
      const entry = (name: string) => (exported.users as Array<Record<string, unknown>>).find((u) => u.username === name);
      expect(entry("given")).toMatchObject({ password_change_required: true });
      expect(entry("admin")).not.toHaveProperty("password_change_required");
      const report = await services.declarative.apply(services.declarative.parse(exported, {}));
      expect(report.changes).toBe(0);
      expect((await services.users.get("given")).password_change_required).toBe(true);
      expect((await services.users.get("admin")).password_change_required).toBe(false);
    });
  });
});

describe("required password change in Chromium, through the console", () => {
  let fixture: Fixture;
  let browser: Browser;

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
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

  const url = (path: string) => `${fixture.gatehouse.issuer}${path}`;

  async function newPage(colorScheme: "light" | "dark" = "light"): Promise<Page> {
    const context = await browser.newContext({ colorScheme, viewport: { width: 800, height: 900 }, extraHTTPHeaders: { "x-forwarded-for": `192.0.2.${++addresses}` } });
    return context.newPage();
  }

  async function signIn(page: Page, username: string, password: string) {
    await page.goto(url("/admin"));
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    const [response] = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Sign in" }).click()]);
    return response!;
  }

  async function choose(page: Page, password: string, repeated = password) {
    await page.getByLabel("New password", { exact: true }).fill(password);
    await page.getByLabel("Repeat the new password").fill(repeated);
    const [response] = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Change password" }).click()]);
    return response!;
  }

  test("the bootstrap admin signs in to the console with the printed password, chooses a new one on a page like the login page, and lands on the dashboard", async () => {
    const printed = printedPassword(fixture.gatehouse);
    const page = await newPage();
    await page.goto(url("/admin"));
    const loginStyle = await page.locator("button.primary").evaluate((b) => [getComputedStyle(b).borderRadius, getComputedStyle(b).backgroundColor]);
    const loginCard = await page.locator("main.card").evaluate((m) => getComputedStyle(m).maxWidth);

    const response = await signIn(page, "admin", printed);
    expect(response.status()).toBe(200);
    expect(await page.title()).toBe("Choose a new password · Gatehouse");
    expect(response.headers()["cache-control"]).toBe("no-store");
    expect(response.headers()["content-security-policy"]).toContain("script-src 'none'");
    expect(await page.locator("main").innerText()).toContain("The password of admin must be changed before you continue to Gatehouse console");
    // The look of the login page: the same stylesheet, card and buttons.
    expect(await page.locator("button.primary").evaluate((b) => [getComputedStyle(b).borderRadius, getComputedStyle(b).backgroundColor])).toEqual(loginStyle);
    expect(await page.locator("main.card").evaluate((m) => getComputedStyle(m).maxWidth)).toBe(loginCard);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("new_password");
    expect(await page.content()).not.toContain(printed);
    await page.screenshot({ path: `${SHOTS}/01-choose-new-password.png`, fullPage: true });

    const short = await choose(page, "short", "shorter");
    expect(short.status()).toBe(400);
    expect(await page.locator("#new_password-error").innerText()).toBe("Must be at least 12 characters.");
    expect(await page.locator("#confirm_password-error").innerText()).toBe("Does not match the new password.");
    expect(await page.getByLabel("New password", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    await page.screenshot({ path: `${SHOTS}/02-errors.png`, fullPage: true });

    const same = await choose(page, printed);
    expect(same.status()).toBe(400);
    expect(await page.locator("#new_password-error").innerText()).toBe("Must differ from the current password.");

    await Promise.all([page.waitForURL(url("/admin")), choose(page, CHOSEN)]);
    expect(await page.title()).toBe("Dashboard · Gatehouse console");

    // The console's user page shows the flag is gone, and the audit log who changed the password.
    await page.goto(url("/admin/users/admin"));
    expect(await page.locator("[data-password-state]").innerText()).toBe("Set");
    expect(await page.locator(".timeline").innerText()).toMatch(/admin\s+own account\s+chose a new password/);
    await page.context().close();

    // Signing in again: the printed password fails, the new one goes straight to the console.
    const later = await newPage();
    expect((await signIn(later, "admin", printed)).status()).toBe(400);
    await expect(later.getByRole("alert").textContent()).resolves.toContain(GENERIC);
    await Promise.all([later.waitForURL(url("/admin")), signIn(later, "admin", CHOSEN)]);
    expect(await later.title()).toBe("Dashboard · Gatehouse console");
    await later.context().close();
  });

  test("the page in dark mode, like the login page in dark mode", async () => {
    await withServices(fixture.db, (services) => services.users.create({ username: "dora", password: GIVEN, password_change_required: true, roles: ["viewer"] }));
    const page = await newPage("dark");
    await page.goto(url("/admin"));
    const loginBackground = await page.locator("main.card").evaluate((m) => getComputedStyle(m).backgroundColor);
    await page.screenshot({ path: `${SHOTS}/03-login-dark.png`, fullPage: true });
    await signIn(page, "dora", GIVEN);
    expect(await page.title()).toBe("Choose a new password · Gatehouse");
    expect(await page.locator("main.card").evaluate((m) => getComputedStyle(m).backgroundColor)).toBe(loginBackground);
    expect(loginBackground).toBe("rgb(30, 41, 59)");
    await page.screenshot({ path: `${SHOTS}/04-choose-new-password-dark.png`, fullPage: true });
    await choose(page, CHOSEN, "something else entirely");
    await page.screenshot({ path: `${SHOTS}/05-errors-dark.png`, fullPage: true });
    await Promise.all([page.waitForURL(url("/admin")), choose(page, CHOSEN)]);
    expect(await page.locator(".page-head").innerText()).toContain("(viewer)");
    await page.context().close();
  });
});
