// The device authorization grant (RFC 8628) against a running Gatehouse, on both backends: a device (openid-client)
// polls the token endpoint while headless Chromium enters its user code on Gatehouse's own pages, signs
// in and consents; then the refusals: polling too fast (slow_down), an expired code (expired_token), a
// cancelled confirmation (access_denied), a wrong code, and guessing codes until the address is locked.
// Screenshots of every page go to /tmp/device-*.png.
import { decodeJwt } from "jose";
import * as oidc from "openid-client";
import { chromium, type Browser, type BrowserContext, type Page, type Response } from "playwright-core";
import { PROTOCOL_ONLY_BACKENDS, freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code";
const API = "https://media.example.com";
const PASSWORD = "alice-password-for-devices";
const CLIENT_NAME = "Living room TV <b>&</b>";
const MAX_FAILURES = 3;
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;
const LOCKED = /Too many attempts\. Try again in \d+ (seconds|minutes)\./;

let db: FreshDatabase;
let gatehouse: RunningGatehouse;
let browser: Browser;
let device: oidc.Configuration;
let deviceClientId: string;
let webClientId: string;
let aliceId: string;
const contexts: BrowserContext[] = [];
let nextAddress = 10;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

/** A fresh database and Gatehouse on it, with alice, an API, a device client (public) and a web client. */
async function startServer(backend: Backend): Promise<void> {
  db = await freshDatabase(backend);
  const ids = await withServices(db, async (services) => {
    await services.scopes.apply({ name: "media:play", description: "Play your media" });
    await services.apis.apply({ identifier: API, name: "Media", scopes: ["media:play"] });
    const { user } = await services.users.create({ username: "alice", password: PASSWORD, email: "alice@example.com", claims: { name: "Alice Liddell" } });
    const tv = await services.clients.create({ client_name: CLIENT_NAME, public: true, grant_types: [DEVICE_CODE, "refresh_token"], scopes: ["media:play"] });
    const web = await services.clients.create({ client_name: "Web app", grant_types: ["authorization_code"], redirect_uris: ["http://127.0.0.1:9/cb"] });
    return { alice: user.id, tv: tv.client.client_id, web: web.client.client_id };
  });
  aliceId = ids.alice;
  deviceClientId = ids.tv;
  webClientId = ids.web;
  // TRUST_PROXY: each browser context comes from its own address (X-Forwarded-For), so that one test's
  // guesses do not lock the next test out.
  gatehouse = await startGatehouse(db, { TRUST_PROXY: "1", LOGIN_MAX_FAILURES: String(MAX_FAILURES), LOGIN_QUICK_FAILURE_MS: "0" });
  device = await oidc.discovery(new URL(gatehouse.issuer), deviceClientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
}

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

/** A browser from its own source address (X-Forwarded-For, believed with TRUST_PROXY=1). */
async function newPage(address = `198.51.100.${nextAddress++}`): Promise<Page> {
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": address } });
  contexts.push(context);
  return context.newPage();
}

const screenshot = (page: Page, name: string) => page.screenshot({ path: `/tmp/device-${name}.png`, fullPage: true });

/** Clicks a button and returns the answer to the form it submits. */
async function submit(page: Page, button: string): Promise<Response> {
  const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest()), page.getByRole("button", { name: button }).click()]);
  await page.waitForLoadState();
  return response;
}

/** Types a code on the code entry page and submits it. */
async function enterCode(page: Page, code: string): Promise<Response> {
  await page.getByLabel("Code").fill(code);
  return submit(page, "Continue");
}

async function startDevice(scope = `openid profile offline_access media:play`) {
  return oidc.initiateDeviceAuthorization(device, { scope, resource: API });
}

/** One raw poll of the token endpoint: status and JSON body. */
async function poll(deviceCode: string, clientId = deviceClientId): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gatehouse.issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: DEVICE_CODE, device_code: deviceCode, client_id: clientId }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Gatehouse's sign-in page, then its consent page. */
async function signInAndConsent(page: Page): Promise<void> {
  await page.getByLabel("Username").waitFor();
  expect(await page.title()).toBe("Sign in · Gatehouse");
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill(PASSWORD);
  await submit(page, "Sign in");
  expect(await page.title()).toBe("Allow access · Gatehouse");
  await submit(page, "Allow");
}

describe.each(PROTOCOL_ONLY_BACKENDS)("device authorization grant on %s", (backend) => {
  beforeAll(() => startServer(backend), 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("discovery names the device authorization endpoint and the grant", async () => {
    const metadata = device.serverMetadata();
    expect(metadata.device_authorization_endpoint).toBe(`${gatehouse.issuer}/device/auth`);
    expect(metadata.grant_types_supported).toContain(DEVICE_CODE);
  });

  test("the device polls while the person enters its code in the browser, signs in and consents; the device gets alice's tokens", async () => {
    const started = await startDevice();
    expect(started.user_code).toMatch(USER_CODE);
    expect(started.verification_uri).toBe(`${gatehouse.issuer}/device`);
    expect(started.verification_uri_complete).toBe(`${gatehouse.issuer}/device?user_code=${started.user_code}`);
    expect(started.interval).toBe(5);
    expect(started.expires_in).toBe(600);
    const tokens = oidc.pollDeviceAuthorizationGrant(device, started, { resource: API });

    const page = await newPage();
    const first = await page.goto(started.verification_uri);
    expect(first?.status()).toBe(200);
    expect(await page.title()).toBe("Connect a device · Gatehouse");
    expect(first?.headers()["cache-control"]).toBe("no-store");
    await screenshot(page, "code");
    // Easy to type: lower case and without the dash is the same code.
    const confirm = await enterCode(page, started.user_code.replace("-", "").toLowerCase());
    expect(confirm.status()).toBe(200);
    expect(await page.locator("#device-user-code").textContent()).toBe(started.user_code);
    // The client's name is text, not markup.
    expect(await page.locator(".lead strong").textContent()).toBe(CLIENT_NAME);
    await screenshot(page, "confirm");
    await submit(page, "Continue");
    await signInAndConsent(page);
    expect(await page.title()).toBe("Device connected · Gatehouse");
    expect(await page.locator("h1").textContent()).toBe("Device connected");
    await screenshot(page, "success");

    const result = await tokens;
    expect(result.claims()).toMatchObject({ sub: aliceId, aud: deviceClientId });
    expect(decodeJwt(result.access_token)).toMatchObject({ sub: aliceId, aud: API, scope: "media:play", client_id: deviceClientId });
    expect(result.refresh_token).toEqual(expect.any(String));
    const refreshed = await oidc.refreshTokenGrant(device, result.refresh_token!, { resource: API });
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ sub: aliceId, aud: API });

    // The code is spent: entering it again says so, and the device code gives nothing more.
    await page.goto(started.verification_uri);
    const again = await enterCode(page, started.user_code);
    expect(again.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("That code has already been used.");
    expect((await poll(started.device_code)).body.error).toBe("invalid_grant");
  }, 60_000);

  test("verification_uri_complete goes straight to the confirmation; cancelling there answers the device access_denied", async () => {
    const started = await startDevice();
    const page = await newPage();
    await page.goto(started.verification_uri_complete!);
    await page.locator("#device-user-code").waitFor();
    expect(await page.locator("#device-user-code").textContent()).toBe(started.user_code);
    const cancelled = await submit(page, "Cancel");
    expect(cancelled.status()).toBe(200);
    expect(await page.locator("h1").textContent()).toBe("Sign-in cancelled");
    await screenshot(page, "cancelled");
    expect(await poll(started.device_code)).toEqual({ status: 400, body: { error: "access_denied", error_description: "End-User aborted interaction" } });
  });

  test("cancelling on the sign-in page answers the device access_denied too", async () => {
    const started = await startDevice();
    const page = await newPage();
    await page.goto(started.verification_uri_complete!);
    await page.locator("#device-user-code").waitFor();
    await submit(page, "Continue");
    await page.getByLabel("Username").waitFor();
    await submit(page, "Cancel");
    expect(await page.locator("h1").textContent()).toBe("Sign-in cancelled");
    const answer = await poll(started.device_code);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe("access_denied");
  });

  test("a device polling faster than the interval gets slow_down", async () => {
    const started = await startDevice();
    expect(await poll(started.device_code)).toMatchObject({ status: 400, body: { error: "authorization_pending" } });
    const fast = await poll(started.device_code);
    expect(fast.status).toBe(400);
    expect(fast.body.error).toBe("slow_down");
  });

  test("each slow_down makes the device code's interval 5 s longer, for this and every later poll (RFC 8628 §3.5)", async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Two devices at once, so that the test waits for the longer one only.
    const [early, late] = await Promise.all([startDevice(), startDevice()]);
    for (const started of [early, late]) expect((await poll(started.device_code)).body.error).toBe("authorization_pending");
    for (const started of [early, late]) {
      const fast = await poll(started.device_code);
      expect(fast.body.error).toBe("slow_down");
      expect(fast.body.error_description).toContain("once every 10 seconds");
    }
    // The interval is now 10 s: a poll after the 5 s it was told at first is still too early, and slows it
    // down again.
    await sleep(5_200);
    const again = await poll(early.device_code);
    expect(again).toMatchObject({ status: 400, body: { error: "slow_down" } });
    expect(again.body.error_description).toContain("once every 15 seconds");
    // After the 10 s, the poll is answered; and the next one must wait 10 s too, not 5.
    await sleep(10_000 - 5_200 + 200);
    expect(await poll(late.device_code)).toMatchObject({ status: 400, body: { error: "authorization_pending" } });
    await sleep(5_200);
    expect((await poll(late.device_code)).body.error).toBe("slow_down");
  }, 30_000);

  test("an expired device code answers expired_token, and its user code is refused as expired on the page", async () => {
    const started = await startDevice();
    // Ten minutes, passed at once: the stored code's exp moves into the past.
    await withServices(db, async (_services, storage) => {
      const Adapter = storage.oidcAdapter({ findClient: async () => undefined, alreadyConsumed: () => new Error("consumed"), refreshTokenReuseGrace: () => 0 });
      const codes = new Adapter("DeviceCode");
      const payload = (await codes.find(started.device_code))!;
      expect(payload).toBeDefined();
      await codes.upsert(started.device_code, { ...payload, exp: Math.floor(Date.now() / 1000) - 1 }, 1);
    });
    expect(await poll(started.device_code)).toEqual({ status: 400, body: { error: "expired_token", error_description: "device code is expired" } });
    await expect(oidc.pollDeviceAuthorizationGrant(device, started)).rejects.toMatchObject({ error: "expired_token" });
    const page = await newPage();
    await page.goto(started.verification_uri);
    const refused = await enterCode(page, started.user_code);
    expect(refused.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("That code has expired.");
  });

  test("a wrong user code is refused on the page, the typed code shown back escaped", async () => {
    const page = await newPage();
    await page.goto(`${gatehouse.issuer}/device`);
    const typed = `"><img src=x onerror=pwned=1>`;
    const refused = await enterCode(page, typed);
    expect(refused.status()).toBe(400);
    expect(await page.title()).toBe("Connect a device · Gatehouse");
    expect(await page.getByRole("alert").textContent()).toContain("That code is not valid.");
    expect(await page.getByLabel("Code").inputValue()).toBe(typed);
    expect(await page.getByLabel("Code").getAttribute("aria-invalid")).toBe("true");
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await page.getByLabel("Code").fill("BCDF-GHJK");
    await screenshot(page, "wrong");
    // An empty code (past the browser's own check) and a missing CSRF token are refused on the same page.
    await page.getByLabel("Code").evaluate((input) => input.removeAttribute("required"));
    const empty = await enterCode(page, "");
    expect(empty.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("Enter the code your device shows.");
    const forged = await fetch(`${gatehouse.issuer}/device`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": "198.51.100.250" }, body: "user_code=BCDF-GHJK" });
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain("This form has expired.");
    const elsewhere = await fetch(`${gatehouse.issuer}/device`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example", "x-forwarded-for": "198.51.100.251" }, body: "user_code=BCDF-GHJK" });
    expect(elsewhere.status).toBe(403);
    // A browser coming back without its session (or to a sign-in that no longer exists) is told to start again.
    const stale = await fetch(`${gatehouse.issuer}/device/no-such-interaction`, { headers: { "x-forwarded-for": "198.51.100.252" } });
    expect(stale.status).toBe(400);
    expect(await stale.text()).toContain("This form has expired.");
  });

  test("guessing codes locks the address: the page says so (429) without looking at the code, even a right one; other addresses go on", async () => {
    const started = await startDevice();
    const page = await newPage("203.0.113.7");
    await page.goto(`${gatehouse.issuer}/device`);
    for (let guess = 0; guess < MAX_FAILURES; guess++) {
      const refused = await enterCode(page, `BCDF-GHJ${"KLM"[guess]}`);
      expect(refused.status()).toBe(400);
    }
    const locked = await enterCode(page, started.user_code);
    expect(locked.status()).toBe(429);
    expect(Number(locked.headers()["retry-after"])).toBeGreaterThan(0);
    expect(await page.getByRole("alert").textContent()).toMatch(LOCKED);
    await screenshot(page, "locked");
    // The right code was not looked at: from another address it is still waiting for its confirmation.
    const other = await newPage("203.0.113.8");
    await other.goto(started.verification_uri);
    expect((await enterCode(other, started.user_code)).status()).toBe(200);
    expect(await other.locator("#device-user-code").textContent()).toBe(started.user_code);
    expect((await poll(started.device_code)).body.error).toBe("authorization_pending");
  });

  test("protocol refusals are the protocol's JSON errors", async () => {
    const post = async (path: string, form: Record<string, string>) => {
      const response = await fetch(`${gatehouse.issuer}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    // A client not registered for the grant.
    expect(await post("/device/auth", { client_id: webClientId })).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    expect(await post("/device/auth", { client_id: "nobody" })).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    expect(await post("/token", { grant_type: DEVICE_CODE, client_id: deviceClientId, device_code: "not-a-code" })).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(await post("/token", { grant_type: DEVICE_CODE, client_id: deviceClientId })).toMatchObject({ status: 400, body: { error: "invalid_request" } });
  });
});
