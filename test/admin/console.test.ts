// The admin console in headless Chromium, as an administrator uses it: signing in through the login
// page, scopes, an API with a route, a machine client whose secret is copied from the page and used for a
// client-credentials token that passes the gateway (then fails it once the route wants another scope),
// Try it, a client that must use DPoP (a note on its page instead of the curl command), disabling the client, a web client used for a code flow with openid-client, users (a viewer,
// a password shown once, a password to be changed at the next sign-in, which the viewer then changes on
// the login page, revoking a grant), signing keys, field errors beside their fields, escaping of
// hostile names everywhere, a viewer who can change nothing, forms without their CSRF token refused, and
// the audit log of it all; a rate limit and a CORS policy attached from the API's page. Screenshots of the main pages go to /tmp/gatehouse-console/.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as oidc from "openid-client";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";

const SHOTS = "/tmp/gatehouse-console";
const API = "https://orders.example.com";
const ALICE_PASSWORD = "correct horse battery staple";
const VIEWER_PASSWORD = "a temporary viewer password";
const XSS_NAME = `<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">"'&`;
// Redirect URIs are stored in canonical form, where < > and " are percent-encoded: what can still break
// out of an attribute is a quote, and an entity that must stay text.
const XSS_URI = `https://app.example.com/cb/'onmouseover='window.pwned=3'&amp;x=1`;

describe("admin console in Chromium", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  let gateway: string;
  /** The web client's redirect URI: a server that records what reaches it. */
  let app: http.Server;
  let callback: string;
  const callbacks: string[] = [];
  /** What the journey creates, for the steps after. */
  const made: { machine?: { id: string; secret: string; token?: string }; web?: { id: string; secret: string }; aliceId?: string; refreshToken?: string; xssClient?: string } = {};

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    db = await freshDatabase("sqlite");
    upstream = await startUpstream();
    gatehouse = await startGatehouse(db);
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    app = http.createServer((req, res) => {
      if (req.url!.startsWith("/callback?")) callbacks.push(new URL(req.url!, callback).href);
      res.setHeader("content-type", "text/html");
      res.end("<!doctype html><title>App</title><p>back at the app</p>");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    callback = `http://127.0.0.1:${(app.address() as AddressInfo).port}/callback`;
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    admin = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await admin.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gatehouse.issuer });
    page = await admin.newPage();
    // Confirmation dialogs (data-confirm) are accepted, as an administrator would.
    page.on("dialog", (dialog) => void dialog.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
    await upstream?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
    await db?.drop();
  });

  const url = (path: string) => `${gatehouse.issuer}${path}`;
  const shot = async (p: Page, name: string) => {
    await p.evaluate(() => window.scrollTo(0, 0));
    await p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  };
  const flash = (p: Page) => p.locator("[data-flash]").innerText();

  /** Clicks a submit button and waits for the page the form leads to. */
  async function submit(p: Page, name: string | RegExp) {
    const [response] = await Promise.all([p.waitForNavigation(), p.getByRole("button", { name, exact: typeof name === "string" }).click()]);
    return response!;
  }

  async function clientCredentialsToken(clientId: string, secret: string, scope = "orders:read") {
    const response = await fetch(url("/token"), {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope, resource: API }),
    });
    return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
  }

  /** The secret page: the copy button puts the secret on the clipboard, and the page is never cached. */
  async function copySecret(p: Page): Promise<{ id: string; secret: string }> {
    await expect(p.getByText("It will not be shown again").isVisible()).resolves.toBe(true);
    await p.getByRole("button", { name: "Copy secret" }).click();
    await p.getByRole("button", { name: "Copied" }).waitFor();
    const secret = await p.evaluate(() => navigator.clipboard.readText());
    expect(secret).toBe((await p.locator("#client-secret").innerText()).trim());
    return { id: (await p.locator("#client-id").innerText()).trim(), secret };
  }

  test("an admin signs in through the login page and sees the dashboard, with the console's security headers", async () => {
    await page.goto(url("/admin"));
    expect(await page.title()).toBe("Sign in · Gatehouse");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("admin-password-for-tests");
    const [response] = await Promise.all([page.waitForNavigation({ url: url("/admin") }), page.getByRole("button", { name: "Sign in" }).click()]);
    expect(response!.status()).toBe(200);
    expect(await page.title()).toBe("Dashboard · Gatehouse console");
    const headers = response!.headers();
    expect(headers["content-security-policy"]).toContain("script-src 'self'");
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(headers["content-security-policy"]).not.toContain("unsafe-inline");
    expect(headers["cache-control"]).toBe("no-store");
    // The built-in console and gateway clients, the admin user, and the admin API.
    expect(await page.locator('[data-count="clients"]').innerText()).toBe("2");
    expect(await page.locator('[data-count="users"]').innerText()).toBe("1");
    await expect(page.getByText("OpenID discovery").isVisible()).resolves.toBe(true);
    expect(await page.getByRole("link", { name: /Admin API reference/ }).getAttribute("href")).toBe("/admin/api/reference");
    await expect(page.getByText(/ES256 · active/).isVisible()).resolves.toBe(true);
  });

  test("scopes, an API and a route are added; a bad value is shown beside its field", async () => {
    await page.goto(url("/admin/scopes"));
    for (const [name, description] of [["orders:read", "Read your orders"], ["orders:write", "Place orders"]]) {
      await page.getByLabel("Name").fill(name!);
      await page.getByLabel(/Description/).fill(description!);
      await submit(page, "Add scope");
      expect(await flash(page)).toContain(`Scope ${name} added.`);
    }
    await shot(page, "09-scopes");

    await page.goto(url("/admin/apis/new"));
    await page.getByLabel("Identifier").fill(API);
    await page.getByLabel("Name", { exact: true }).fill("Orders API");
    await page.getByLabel("Scopes", { exact: true }).fill("orders:read orders:write");
    await submit(page, "Add API");
    expect(page.url()).toBe(url(`/admin/apis/${encodeURIComponent(API)}`));
    expect(await flash(page)).toContain("API “Orders API” added.");

    await page.getByRole("link", { name: "Add route" }).first().click();
    await page.getByLabel("Path prefix").fill("orders/");
    await page.getByLabel("Upstream URL").fill("not a url");
    await page.getByLabel("GET requires all of").fill("orders:read");
    await page.getByLabel("POST requires all of").fill("orders:wrong");
    const refused = await submit(page, "Add route");
    expect(refused.status()).toBe(400);
    // Each message beside its own field, the values kept.
    expect(await page.locator("#path_prefix-error").innerText()).toContain("must be an absolute path");
    expect(await page.locator("#upstream-error").innerText()).toMatch(/url/i);
    expect(await page.getByLabel("GET requires all of").inputValue()).toBe("orders:read");
    await shot(page, "08-route-form-errors");
    await page.getByLabel("Path prefix").fill("/orders");
    await page.getByLabel("Upstream URL").fill(upstream.url);
    expect((await submit(page, "Add route")).status()).toBe(400);
    expect(await page.locator('[id="scopes.POST.all_of-error"]').innerText()).toContain('unknown scope "orders:wrong"');
    await page.getByLabel("POST requires all of").fill("orders:write");
    await submit(page, "Add route");
    expect(await flash(page)).toContain("Route /orders added");
    expect(await page.locator("#routes tbody tr").count()).toBe(1);
  });

  test("a machine client is registered, its secret copied from the page gets a token, and the gateway lets the token through", async () => {
    await page.goto(url("/admin/clients/new"));
    // The type card pre-fills the form without a page load.
    await page.getByRole("link", { name: /Machine to machine/ }).click();
    expect(await page.getByRole("checkbox", { name: /^client_credentials/ }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: /^authorization_code/ }).isChecked()).toBe(false);
    await page.getByLabel("Name", { exact: true }).fill("Orders worker");
    await page.getByRole("checkbox", { name: /^orders:read/ }).check();
    await shot(page, "03-client-new");
    const created = await submit(page, "Register client");
    expect(created.status()).toBe(201);
    expect(created.headers()["cache-control"]).toBe("no-store");
    await shot(page, "04-client-secret");
    const machine = await copySecret(page);
    made.machine = machine;

    const token = await clientCredentialsToken(machine.id, machine.secret);
    expect(token.status).toBe(200);
    made.machine.token = token.body.access_token!;
    const through = await fetch(`${gateway}/orders/42`, { headers: { authorization: `Bearer ${made.machine.token}` } });
    expect(through.status).toBe(200);
    expect(upstream.received.at(-1)?.headers["x-gatehouse-client-id"]).toBe(machine.id);

    // Leaving the page and coming back never shows the secret again.
    await page.getByRole("link", { name: /continue/ }).click();
    expect(await page.content()).not.toContain(machine.secret);
    await shot(page, "05-client");
    expect(await page.locator("#snippet-token").innerText()).toContain(`-d resource=${API}`);
  });

  test("Try it mints a token for the client and shows the gateway's decision; after the route's scope changes the gateway refuses with 403", async () => {
    const apiPage = url(`/admin/apis/${encodeURIComponent(API)}`);
    await page.goto(apiPage);
    await page.getByLabel("Client", { exact: true }).selectOption(made.machine!.id);
    await page.getByLabel("Path", { exact: true }).fill("/orders/42");
    await submit(page, "Send");
    const result = page.locator("[data-trial-result]");
    expect(await result.locator("[data-status]").innerText()).toBe("200");
    expect(await result.innerText()).toContain("Allowed.");
    const identity = await page.locator("[data-identity-headers]").innerText();
    expect(identity).toContain("x-gatehouse-client-id");
    expect(identity).toContain(made.machine!.id);
    expect(identity).toContain("orders:read");
    await shot(page, "06-api-try-allowed");

    // The route's GET now needs a scope the client's token does not carry.
    await page.goto(apiPage);
    await page.locator("#routes").getByRole("link", { name: "Edit" }).click();
    await page.getByLabel("GET requires all of").fill("orders:write");
    await submit(page, "Save route");
    expect(await flash(page)).toContain("Route /orders saved.");
    await configPropagation();
    const refused = await fetch(`${gateway}/orders/42`, { headers: { authorization: `Bearer ${made.machine!.token}` } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: "insufficient_scope", scope: "orders:write" });

    await page.getByLabel("Client", { exact: true }).selectOption(made.machine!.id);
    await page.getByLabel("Path", { exact: true }).fill("/orders/42");
    await submit(page, "Send");
    expect(await result.locator("[data-status]").innerText()).toBe("403");
    expect(await result.locator("[data-stage]").innerText()).toBe("authorize");
    expect(await result.locator("[data-reason]").innerText()).toBe("insufficient_scope");
    expect(await page.locator("[data-response-body]").innerText()).toContain('"error":"insufficient_scope"');
    await shot(page, "07-api-try-refused");
  });

  test("a rate limit and a CORS policy are attached in the browser, a bad value is shown beside its field, and the gateway applies both at once", async () => {
    const apiPage = url(`/admin/apis/${encodeURIComponent(API)}`);
    // A public route to limit by address.
    await page.goto(url(`/admin/apis/${encodeURIComponent(API)}/routes/new`));
    await page.getByLabel("Path prefix").fill("/catalog");
    await page.getByLabel("Upstream URL").fill(upstream.url);
    await page.getByLabel(/Public/).check();
    await submit(page, "Add route");
    expect(await flash(page)).toContain("Route /catalog added");

    // The rate limit, on the route: a limit by client is refused (a public route has no token), beside its row.
    await page.getByRole("combobox", { name: "Attach a policy" }).selectOption("rate_limit");
    await page.getByRole("combobox", { name: "On", exact: true }).selectOption({ label: "route /catalog" });
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Attach…" }).click()]);
    expect(await page.title()).toBe("Rate limit on route /catalog · Gatehouse console");
    await shot(page, "20-policy-rate-limit-new");
    await page.getByLabel("Limits 1 by").selectOption("client");
    await page.getByLabel("Limits 1 requests").fill("2");
    await page.getByLabel("Limits 1 per").selectOption("minute");
    const refused = await submit(page, "Attach policy");
    expect(refused.status()).toBe(400);
    expect(await page.locator('[id="limits.0.by-error"]').innerText()).toContain("a public route has no token to count by client");
    expect(await page.getByLabel("Limits 1 requests").inputValue()).toBe("2");
    await shot(page, "21-policy-rate-limit-error");
    await page.getByLabel("Limits 1 by").selectOption("address");
    await submit(page, "Attach policy");
    expect(page.url()).toBe(`${apiPage}#policies`);
    expect(await flash(page)).toContain("Rate limit saved on route /catalog");

    // CORS, on the API: * with credentials is refused beside the origins; exact origins are taken.
    await page.getByRole("combobox", { name: "Attach a policy" }).selectOption("cors");
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Attach…" }).click()]);
    await page.getByLabel(/^Origins/).fill("*");
    await page.getByLabel(/^Credentials/).check();
    expect((await submit(page, "Attach policy")).status()).toBe(400);
    expect(await page.locator('[id="origins-error"]').innerText()).toContain("* cannot be used with credentials");
    await shot(page, "22-policy-cors-error");
    await page.getByLabel(/^Origins/).fill("https://shop.example\nhttps://admin.example");
    await page.getByLabel(/^Max age/).fill("120");
    await submit(page, "Attach policy");
    expect(await flash(page)).toContain("CORS saved on Orders API");
    const rows = page.locator("[data-policies] tbody tr");
    expect(await rows.count()).toBe(2);
    expect(await page.locator('[data-policy="cors"][data-on="api"]').innerText()).toContain("https://shop.example, https://admin.example · with credentials");
    expect(await page.locator('[data-policy="rate_limit"][data-on="route"]').innerText()).toContain("2/minute per address");
    await shot(page, "23-api-policies");

    // Editing shows what is stored.
    await page.getByRole("link", { name: "Change CORS on the API" }).click();
    expect(await page.getByLabel(/^Origins/).inputValue()).toBe("https://shop.example\nhttps://admin.example");
    expect(await page.getByLabel(/^Max age/).inputValue()).toBe("120");
    await shot(page, "24-policy-cors-edit");

    // The route's page lists its policies too.
    await page.goto(apiPage);
    await page.locator("#routes tr", { hasText: "/catalog" }).getByRole("link", { name: "Edit" }).click();
    expect(await page.locator("[data-route-policies]").innerText()).toContain("Rate limit");
    await shot(page, "25-route-policies");

    await configPropagation();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gateway}/catalog/${i}`)).status);
    expect(statuses).toEqual([200, 200, 429]);
    const preflight = await fetch(`${gateway}/catalog/1`, { method: "OPTIONS", headers: { origin: "https://shop.example", "access-control-request-method": "GET" } });
    expect([preflight.status, preflight.headers.get("access-control-allow-origin"), preflight.headers.get("access-control-max-age")]).toEqual([204, "https://shop.example", "120"]);
  });

  test("a client that must use DPoP gets a note on its page instead of the curl token command, which its token endpoint would refuse", async () => {
    await page.goto(url("/admin/clients/new?type=m2m"));
    await page.getByLabel("Name", { exact: true }).fill("Orders worker with DPoP");
    await page.getByRole("checkbox", { name: /^orders:read/ }).check();
    await page.getByRole("checkbox", { name: /^Require DPoP/ }).check();
    expect((await submit(page, "Register client")).status()).toBe(201);
    const bound = await copySecret(page);
    // What the page says: the request the curl command makes (which got the machine client its token) is
    // refused for this client, without a DPoP proof.
    const plain = await clientCredentialsToken(bound.id, bound.secret);
    expect(plain.status).toBe(400);
    expect(plain.body.error).toBe("invalid_grant");

    await page.goto(url(`/admin/clients/${encodeURIComponent(bound.id)}`));
    await expect(page.getByText("DPoP required", { exact: true }).isVisible()).resolves.toBe(true);
    expect(await page.locator("#snippet-token").count()).toBe(0);
    const quickStart = await page.locator("section.card", { hasText: "Quick start" }).innerText();
    expect(quickStart).not.toContain("curl -s");
    expect(quickStart).not.toContain("grant_type=");
    expect(quickStart).not.toContain(`${gatehouse.issuer}/token`);
    const note = await page.locator("#snippet-dpop").innerText();
    expect(note).toContain("must send a DPoP proof (RFC 9449) with each token request");
    expect(note).toContain("gatehouse sample dpop");
    expect(await page.locator("#snippet-discovery").innerText()).toContain("/.well-known/openid-configuration");
    await shot(page, "05b-client-dpop");

    // A client without DPoP still gets the curl command, and no note.
    await page.goto(url(`/admin/clients/${encodeURIComponent(made.machine!.id)}`));
    expect(await page.locator("#snippet-token").innerText()).toContain(`curl -s -u "${made.machine!.id}:$CLIENT_SECRET" ${gatehouse.issuer}/token`);
    expect(await page.locator("#snippet-dpop").count()).toBe(0);
    await shot(page, "05c-client-plain");
  });

  test("a disabled client's next token request is refused", async () => {
    await page.goto(url(`/admin/clients/${made.machine!.id}`));
    await submit(page, "Disable");
    expect(await flash(page)).toContain("disabled");
    await expect(page.getByText("Disabled", { exact: true }).first().isVisible()).resolves.toBe(true);
    const refused = await clientCredentialsToken(made.machine!.id, made.machine!.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("invalid_client");
  });

  test("users are created: a password given, a generated one shown once, roles and profile claims", async () => {
    await page.goto(url("/admin/users/new"));
    await page.getByLabel("Username").fill("alice");
    await page.getByRole("textbox", { name: /^Password/ }).fill(ALICE_PASSWORD);
    await page.getByLabel("Email").fill("alice@example.com");
    await page.getByLabel("Full name").fill(XSS_NAME);
    await submit(page, "Add user");
    expect(await flash(page)).toContain("User alice added.");
    made.aliceId = (await page.locator("dt:has-text('User id (sub)') + dd").innerText()).trim();

    await page.goto(url("/admin/users/new"));
    await page.getByLabel("Username").fill("viv");
    await page.getByRole("checkbox", { name: /^viewer/ }).check();
    const created = await submit(page, "Add user");
    expect(created.headers()["cache-control"]).toBe("no-store");
    await expect(page.getByText("It will not be shown again").isVisible()).resolves.toBe(true);
    await page.getByRole("button", { name: "Copy password" }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor();
    const generated = await page.evaluate(() => navigator.clipboard.readText());
    expect(generated.length).toBeGreaterThanOrEqual(32);
    await expect(page.getByText("It must be changed at the first sign-in").isVisible()).resolves.toBe(true);
    await page.goto(url("/admin/users"));
    expect(await page.locator("tbody tr").count()).toBe(3);
    expect(await page.locator("tbody tr", { hasText: "viv" }).innerText()).toContain("Must change password");
    expect(await page.locator("tbody tr", { hasText: "alice" }).innerText()).not.toContain("Must change password");
    await shot(page, "10-users");

    // A password the admin gives stays, unless the box asks for a change at the next sign-in.
    await page.goto(url("/admin/users/viv"));
    expect(await page.locator("[data-password-state]").innerText()).toContain("Must be changed");
    await page.getByLabel("New password").fill(VIEWER_PASSWORD);
    await submit(page, "Set password");
    expect(await flash(page)).toContain("Password of viv set");
    expect(await page.locator("[data-password-state]").innerText()).toBe("Set");
    await page.getByLabel("New password").fill(VIEWER_PASSWORD);
    await page.getByRole("checkbox", { name: /Must be changed at the next sign-in/ }).check();
    await submit(page, "Set password");
    expect(await flash(page)).toContain("It must be changed at the next sign-in.");
    expect(await page.locator("[data-password-state]").innerText()).toContain("Must be changed");
    expect(await page.locator(".page-head").innerText()).toContain("Must change password");
    await shot(page, "10-user-must-change-password");
  });

  test("a web client is registered and completes a code flow with openid-client against its redirect URI", async () => {
    await page.goto(url("/admin/clients/new?type=web"));
    await page.getByLabel("Name", { exact: true }).fill("Storefront");
    // A plain-http redirect URI off loopback is refused, beside the field.
    await page.getByLabel("Redirect URIs", { exact: true }).fill("http://shop.example.com/callback");
    const refused = await submit(page, "Register client");
    expect(refused.status()).toBe(400);
    expect(await page.locator("#redirect_uris-error").innerText()).toContain("must use https");
    await shot(page, "15-client-form-errors");
    await page.getByLabel("Redirect URIs", { exact: true }).fill(callback);
    await submit(page, "Register client");
    made.web = await copySecret(page);

    const config = await oidc.discovery(new URL(gatehouse.issuer), made.web.id, made.web.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback,
      scope: "openid profile email",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
    });
    const user = await (await browser.newContext()).newPage();
    await user.goto(authorizationUrl.href);
    await user.getByLabel("Username").fill("alice");
    await user.getByLabel("Password").fill(ALICE_PASSWORD);
    await submit(user, "Sign in");
    await Promise.all([user.waitForURL(`${callback}?**`), user.getByRole("button", { name: "Allow" }).click()]);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callbacks.at(-1)!), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(made.aliceId);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    made.refreshToken = tokens.refresh_token;
    await user.context().close();
  });

  test("revoking alice's grant from her page ends the client's refresh token", async () => {
    await page.goto(url("/admin/users/alice"));
    const grants = page.locator("[data-grants]");
    expect(await grants.innerText()).toContain("Storefront");
    await shot(page, "11-user");
    await Promise.all([page.waitForNavigation(), grants.getByRole("button", { name: "Revoke" }).click()]);
    expect(await flash(page)).toContain(`Access of ${made.web!.id} revoked`);
    const refresh = await fetch(url("/token"), {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${made.web!.id}:${made.web!.secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: made.refreshToken! }),
    });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");
  });

  test("a trusted assertion issuer is added", async () => {
    await page.goto(url("/admin/issuers/new"));
    await page.getByLabel("Issuer", { exact: true }).fill("https://login.partner.example");
    await page.getByLabel("Name", { exact: true }).fill("Partner SSO");
    // A JWT issuer needs its keys: the refusal names the field.
    expect((await submit(page, "Add issuer")).status()).toBe(400);
    expect(await page.locator("#jwks-error").innerText()).toContain("jwks or jwks_uri");
    await page.getByLabel("JWKS URL").fill("https://login.partner.example/jwks");
    await page.getByLabel("Clients", { exact: true }).fill(made.web!.id);
    await submit(page, "Add issuer");
    expect(await flash(page)).toContain("Issuer “Partner SSO” added.");
    expect(await page.locator("main").innerText()).toContain(made.web!.id);
  });

  test("signing keys are listed and rotated", async () => {
    await page.goto(url("/admin/keys"));
    expect(await page.locator("tbody tr").count()).toBe(2);
    await submit(page, "Rotate keys");
    expect(await flash(page)).toContain("Rotated");
    expect(await page.locator("tbody tr").count()).toBe(3);
    expect(await page.locator("tbody").innerText()).toContain("retired");
    await shot(page, "12-keys");
  });

  test("a hostile client name, redirect URI and user name are shown escaped on every page", async () => {
    await page.goto(url("/admin/clients/new?type=web"));
    await page.getByLabel("Name", { exact: true }).fill(XSS_NAME);
    await page.getByLabel("Redirect URIs", { exact: true }).fill(XSS_URI);
    await submit(page, "Register client");
    made.xssClient = (await copySecret(page)).id;
    const pages = [
      "/admin",
      "/admin/clients",
      `/admin/clients?search=${encodeURIComponent(XSS_NAME)}`,
      `/admin/clients/${made.xssClient}`,
      `/admin/clients/${made.xssClient}/edit`,
      `/admin/clients/${made.xssClient}/delete`,
      "/admin/users",
      "/admin/users/alice",
      "/admin/users/alice/edit",
      "/admin/audit",
    ];
    for (const path of pages) {
      await page.goto(url(path));
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
      // The console's own script is the only one; no injected element.
      expect(await page.locator("script").count()).toBe(1);
      expect(await page.locator("img").count()).toBe(0);
    }
    await page.goto(url(`/admin/clients/${made.xssClient}`));
    expect(await page.locator("h1").innerText()).toContain(XSS_NAME);
    expect(await page.locator("main").innerText()).toContain(XSS_URI);
    await page.goto(url("/admin/users/alice"));
    expect(await page.locator("main").innerText()).toContain(XSS_NAME);
    await page.goto(url("/admin/clients"));
    await shot(page, "02-clients");
  });

  test("a viewer sees everything and no button that changes anything; their posts are refused", async () => {
    const viewer = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    // viv's password must be changed: the login page asks for a new one before the console opens.
    await viewer.goto(url("/admin"));
    await viewer.getByLabel("Username").fill("viv");
    await viewer.getByLabel("Password").fill(VIEWER_PASSWORD);
    await Promise.all([viewer.waitForNavigation(), viewer.getByRole("button", { name: "Sign in" }).click()]);
    expect(await viewer.title()).toBe("Choose a new password · Gatehouse");
    await viewer.getByLabel("New password", { exact: true }).fill(`${VIEWER_PASSWORD}, changed`);
    await viewer.getByLabel("Repeat the new password").fill(`${VIEWER_PASSWORD}, changed`);
    await Promise.all([viewer.waitForURL(url("/admin")), viewer.getByRole("button", { name: "Change password" }).click()]);
    expect(await viewer.locator(".page-head").innerText()).toContain("(viewer)");
    for (const path of ["/admin", "/admin/clients", `/admin/clients/${made.machine!.id}`, `/admin/apis/${encodeURIComponent(API)}`, "/admin/users/alice", "/admin/issuers", "/admin/keys", "/admin/scopes", "/admin/audit"]) {
      await viewer.goto(url(path));
      // The sign-out form is the only form; no change is offered as a link either.
      expect(await viewer.locator("form[method=post]").count()).toBe(1);
      expect(await viewer.locator("main").getByRole("link", { name: /^(Register client|Add API|Add route|Add user|Add issuer|Edit|Edit API|Delete.*)$/ }).count()).toBe(0);
      expect(await viewer.locator("main form[method=post]").count()).toBe(0);
    }
    await viewer.goto(url(`/admin/clients/${made.machine!.id}`));
    await shot(viewer, "14-viewer-client");
    const csrf = await viewer.locator("#signout input[name=csrf]").getAttribute("value");
    const post = await viewer.request.post(url(`/admin/clients/${made.machine!.id}/enable`), { form: { csrf: csrf! }, headers: { origin: gatehouse.issuer } });
    expect(post.status()).toBe(403);
    expect(await post.text()).toContain("viewer");
    expect((await viewer.goto(url("/admin/clients/new")))!.status()).toBe(403);
    await viewer.goto(url(`/admin/clients/${made.machine!.id}`));
    await expect(viewer.getByText("This client is disabled").isVisible()).resolves.toBe(true);
    await viewer.context().close();
  });

  test("a change posted without the form's CSRF token, or from another origin, is refused; a form sets only its own fields", async () => {
    const target = url(`/admin/clients/${made.machine!.id}/enable`);
    expect((await page.request.post(target, { form: {} })).status()).toBe(403);
    expect((await page.request.post(target, { form: { csrf: "forged" } })).status()).toBe(403);
    await page.goto(url("/admin"));
    const csrf = (await page.locator("#signout input[name=csrf]").getAttribute("value"))!;
    expect((await page.request.post(target, { form: { csrf }, headers: { origin: "https://evil.example.com" } })).status()).toBe(403);
    await page.goto(url(`/admin/clients/${made.machine!.id}`));
    await expect(page.getByText("This client is disabled").isVisible()).resolves.toBe(true);
    // A form sets only what its schema lists: the scope's name is not among the edit form's fields.
    const edited = await page.request.post(url("/admin/scopes/orders%3Awrite"), { form: { csrf, description: "Place and change orders", name: "hijacked" }, maxRedirects: 0 });
    expect(edited.status()).toBe(302);
    await page.goto(url("/admin/scopes"));
    const scopes = await page.locator("main table").innerText();
    expect(scopes).toContain("Place and change orders");
    expect(scopes).not.toContain("hijacked");
  });

  test("the audit log shows each change, by whom, and filters by entity", async () => {
    await page.goto(url("/admin/audit"));
    const log = await page.locator("[data-audit]").innerText();
    for (const entry of ["orders:read", "orders:write", API, made.machine!.id, made.web!.id, "alice", "viv", "mint trial token", "revoke grant", "rotate"]) {
      expect(log).toContain(entry);
    }
    expect(log).toContain("admin");
    await shot(page, "13-audit");
    await page.getByLabel("Entity", { exact: true }).selectOption("client");
    await page.getByLabel("Entity id").fill(made.machine!.id);
    await submit(page, "Filter");
    const rows = page.locator("[data-audit] tbody tr");
    const actions = await rows.locator("td:nth-child(3)").allInnerTexts();
    expect(actions).toEqual(["update", "mint trial token", "mint trial token", "create"]);
    expect(await rows.first().innerText()).toContain("enabled: true → false");
    await page.goto(url("/admin"));
    await shot(page, "01-dashboard");
  });
});
