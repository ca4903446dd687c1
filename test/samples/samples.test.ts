// Every sample client (`gatehouse sample <flow>`) run through the real CLI entry against a real
// Gatehouse (SQLite), so that a sample can never rot: the non-interactive ones by their printed JSON, the
// interactive ones (web, spa, implicit, device) driven in headless Chromium through Gatehouse's own sign-in and
// consent pages. Assertions are on what the samples got (token claims, scopes, introspection, what the
// gateway's backend saw), and that nothing they print is a whole token.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { NODE, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream } from "../helpers/upstream.ts";

const MAIN = path.resolve("src/cli/main.ts");
const SCREENSHOTS = "/tmp/gatehouse-samples";
const API = "https://sample-api.gatehouse.test";
const PASSWORD = "alice-password-for-samples";
const IMPLICIT_REDIRECT = "https://implicit-sample.gatehouse.test/callback";
/** A whole compact JWS: no sample output may contain one. */
const WHOLE_JWT = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/;
const FLOWS = ["web", "spa", "implicit", "device", "password", "client-credentials", "refresh", "revoke", "tokeninfo", "jwt-bearer", "saml-bearer", "gateway", "dpop"];

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running `gatehouse sample ...`: its output so far, and its end. */
interface Running {
  /** Resolves with the first match of `pattern` on stderr (where the samples say what to open). */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  done: Promise<Finished>;
}

let db: FreshDatabase;
let gatehouse: RunningGatehouse;
let browser: Browser;
let aliceId: string;
const contexts: BrowserContext[] = [];
/** Samples still running (a failed test leaves its interactive one waiting): ended after each test. */
const children = new Set<ChildProcess>();

beforeAll(async () => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  db = await freshDatabase("sqlite");
  aliceId = await withServices(db, async (services) => (await services.users.create({ username: "alice", email: "alice@example.com", password: PASSWORD, claims: { name: "Alice Liddell" } })).user.id);
  gatehouse = await startGatehouse(db);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
  await db?.drop();
});

/** Starts `gatehouse sample <args>` with the server's environment, in the database's directory (away from any .env). */
function start(args: string[], stdin = ""): Running {
  const child = spawn(NODE, [MAIN, "sample", ...args], { cwd: db.dataDir, env: { PATH: process.env.PATH ?? "", ...gatehouse.env } });
  let stdout = "";
  let stderr = "";
  const waiting: Array<{ pattern: RegExp; resolve: (match: RegExpMatchArray) => void }> = [];
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const wait of [...waiting]) {
      const match = wait.pattern.exec(stderr);
      if (match) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve(match);
      }
    }
  });
  child.stdin.end(stdin);
  children.add(child);
  child.on("close", () => children.delete(child));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return {
    done,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const match = pattern.exec(stderr);
        if (match) return resolve(match);
        waiting.push({ pattern, resolve });
        done.then(({ code }) => reject(new Error(`the sample exited (${code}) before printing ${pattern}:\n${stderr}`)), reject);
      }),
  };
}

/** Runs a sample to its end with --json and returns its parsed result. */
async function runSample(args: string[], stdin = ""): Promise<any> {
  const { code, stdout, stderr } = await start([...args, "--json"], stdin).done;
  if (code !== 0) throw new Error(`gatehouse sample ${args.join(" ")} exited ${code}:\n${stderr}\n${stdout}`);
  expect(stdout).not.toMatch(WHOLE_JWT);
  expect(stderr).not.toMatch(WHOLE_JWT);
  return JSON.parse(stdout);
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  return context.newPage();
}

/** Gatehouse's real sign-in page, then its consent page. */
async function signInAndConsent(page: Page): Promise<void> {
  await page.getByLabel("Username").waitFor();
  expect(await page.title()).toBe("Sign in · Gatehouse");
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill(PASSWORD);
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Sign in" }).click()]);
  expect(await page.title()).toBe("Allow access · Gatehouse");
  await page.getByRole("button", { name: "Allow" }).click();
}

const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

describe("gatehouse sample", () => {
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
    for (const child of children) child.kill();
  });

  test("without a flow it lists every flow with its grant and a description; an unknown flow is refused", async () => {
    const list = await runSample([]);
    expect(list.map((flow: { flow: string }) => flow.flow)).toEqual(FLOWS);
    for (const flow of list) expect(flow).toEqual({ flow: expect.any(String), grant: expect.any(String), interactive: expect.any(Boolean), description: expect.stringMatching(/.{20}/) });
    expect(list.filter((flow: { interactive: boolean }) => flow.interactive).map((flow: { flow: string }) => flow.flow)).toEqual(["web", "spa", "implicit", "device"]);
    const text = await start([]).done;
    expect(text.stdout).toMatch(/^FLOW\s+GRANT\s+DESCRIPTION/);
    expect(text.stdout).toContain("urn:ietf:params:oauth:grant-type:saml2-bearer");
    const unknown = await start(["nope"]).done;
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: unknown flow nope: one of web, spa, .*gateway, dpop\n$/);
  });

  test("client-credentials: a JWT access token for the sample API, its client as subject; registration is idempotent", async () => {
    const result = await runSample(["client-credentials"]);
    expect(result.registered).toEqual(expect.arrayContaining(["client sample-client-credentials (created)", `api ${API} (created)`]));
    expect(result.tokens).toMatchObject({
      token_type: "bearer",
      scope: "sample:read",
      expires_in: 3600,
      access_token: {
        format: "jwt",
        header: { typ: "at+jwt", alg: "ES256" },
        claims: { sub: "sample-client-credentials", client_id: "sample-client-credentials", aud: API, scope: "sample:read", iss: gatehouse.issuer },
      },
    });
    expect(Date.parse(result.tokens.expires_at)).toBeGreaterThan(Date.now() + 3500_000);
    // Again: the client gets a fresh secret (updated), the API is left as it is.
    const again = await runSample(["client-credentials"]);
    expect(again.registered).toEqual(["client sample-client-credentials (updated)"]);
    expect(again.tokens.access_token.claims.jti).not.toBe(result.tokens.access_token.claims.jti);
  });

  test("the text output is YAML for people, with progress on stderr", async () => {
    const { code, stdout, stderr } = await start(["client-credentials"]).done;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^flow: client-credentials\n/);
    expect(stdout).toMatch(/\n {6}aud: https:\/\/sample-api\.gatehouse\.test\n/);
    expect(stderr).toBe(`asking ${gatehouse.issuer} for a client credentials token for ${API}\n`);
    expect(stdout).not.toMatch(WHOLE_JWT);
  });

  test("password: tokens for alice (access token for the API, ID token with her name); without a user it says what to pass", async () => {
    const refused = await start(["password"]).done;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: the password sample signs in as a Gatehouse user: pass --username NAME and --password-stdin .*"admin".*\n$/);
    const result = await runSample(["password", "--username", "alice", "--password-stdin"], `${PASSWORD}\n`);
    expect(result.tokens.access_token.claims).toMatchObject({ sub: aliceId, aud: API, scope: "sample:read", client_id: "sample-password" });
    expect(result.tokens.id_token.claims).toMatchObject({ sub: aliceId, aud: "sample-password", name: "Alice Liddell", email: "alice@example.com", iss: gatehouse.issuer });
    expect(result.tokens.refresh_token).toBeUndefined();
    const wrong = await start(["password", "--username", "alice", "--password", "not-her-password"]).done;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/\nerror: Gatehouse answered 400 invalid_grant: the username or password is wrong\n$/);
  });

  test("refresh: the refresh token gets new tokens for alice and is rotated", async () => {
    const result = await runSample(["refresh", "--username", "alice", "--password-stdin"], PASSWORD);
    expect(result.first.refresh_token).toMatch(/…\(\d+ characters\)$/);
    expect(result.refresh_token_rotated).toBe(true);
    expect(result.refreshed.access_token.claims).toMatchObject({ sub: aliceId, aud: API, scope: "sample:read", client_id: "sample-refresh" });
    expect(result.refreshed.access_token.claims.jti).not.toBe(result.first.access_token.claims.jti);
    expect(result.refreshed.refresh_token).not.toBe(result.first.refresh_token);
  });

  test("revoke: introspection says active before the revocation and inactive after", async () => {
    const result = await runSample(["revoke"]);
    expect(result.introspection_before).toMatchObject({ active: true, client_id: "sample-revoke", aud: API, scope: "sample:read" });
    expect(result.introspection_after).toEqual({ active: false });
    expect(result.access_token.claims.jti).toBe(result.introspection_before.jti);
  });

  test("tokeninfo: GET and POST describe the token; a tampered token is 400 invalid_token", async () => {
    const result = await runSample(["tokeninfo"]);
    for (const answer of [result.tokeninfo_get, result.tokeninfo_post]) {
      expect(answer).toMatchObject({ active: true, client_id: "sample-tokeninfo", sub: "sample-tokeninfo", scope: "sample:read", aud: API, iss: gatehouse.issuer, exp: result.access_token.claims.exp });
      expect(answer.expires_in).toBeGreaterThan(3500);
    }
    expect(result.tampered_token).toMatchObject({ status: 400, error: "invalid_token" });
  });

  test.each([
    ["jwt-bearer", "https://jwt-idp.sample.gatehouse.test"],
    ["saml-bearer", "https://saml-idp.sample.gatehouse.test"],
  ])("%s: the sample's own signed assertion gets a service token, and with --username tokens for alice", async (flow, issuer) => {
    const service = await runSample([flow]);
    expect(service.registered).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^trusted issuer ${issuer} \\((created|updated)\\)$`)), `client sample-${flow} (created)`]));
    expect(service.issuer).toMatchObject({ issuer, subject_mapping: "service" });
    expect(service.tokens.access_token.claims).toMatchObject({ sub: `${issuer}#sample-service`, aud: API, scope: "sample:read", client_id: `sample-${flow}` });
    expect(service.tokens.id_token).toBeUndefined();

    const user = await runSample([flow, "--username", "alice"]);
    expect(user.issuer.subject_mapping).toBe("username");
    expect(user.tokens.access_token.claims).toMatchObject({ sub: aliceId, aud: API, scope: "sample:read" });
    expect(user.tokens.id_token.claims).toMatchObject({ sub: aliceId, name: "Alice Liddell" });
    if (flow === "jwt-bearer") {
      expect(user.assertion.claims).toMatchObject({ iss: issuer, sub: "alice", aud: gatehouse.issuer, jti: expect.any(String) });
      expect(user.assertion.claims.exp - user.assertion.claims.iat).toBe(120);
      expect(user.assertion.header).toMatchObject({ alg: "ES256", kid: user.issuer.kid });
    } else {
      expect(user.issuer).toMatchObject({ certificate_subject: "CN=Gatehouse sample SAML identity provider", certificate_sha256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) });
      expect(user.assertion.xml).toContain("<saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">alice</saml:NameID>");
      expect(user.assertion.xml).toContain(`Recipient="${gatehouse.issuer}/token"`);
      expect(user.assertion.xml).toMatch(/<saml:Issuer>[^<]+<\/saml:Issuer><(ds:)?Signature /);
    }
  });

  test("gateway: the token opens the sample route, whose backend sees the caller; without a token it is 401", async () => {
    const result = await runSample(["gateway"]);
    expect(result.registered).toEqual(expect.arrayContaining([expect.stringMatching(/^route \/gatehouse-sample of https:\/\/sample-api\.gatehouse\.test to http:\/\/127\.0\.0\.1:\d+ \(created/)]));
    expect(result.gateway).toBe(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`);
    expect(result.with_token).toMatchObject({
      status: 200,
      body: {
        method: "GET",
        path: "/hello?from=gatehouse-sample",
        identity: { "x-gatehouse-subject": "sample-gateway", "x-gatehouse-client-id": "sample-gateway", "x-gatehouse-scopes": "sample:read", "x-gatehouse-issuer": gatehouse.issuer },
      },
    });
    expect(result.without_token).toMatchObject({ status: 401, challenge: expect.stringContaining('error="invalid_token"'), body: { error: "invalid_token" } });
    // Again, with a new backend on another port: the route is updated and the gateway follows.
    const again = await runSample(["gateway"]);
    expect(again.registered).toEqual(["client sample-gateway (updated)", expect.stringMatching(/^route .* \(updated, id /)]);
    expect(again.with_token.status).toBe(200);
  });

  test("gateway with --api and --path: an existing API's token through an existing route to its own backend", async () => {
    const upstream = await startUpstream();
    try {
      await withServices(db, async (services) => {
        await services.apis.create({ identifier: "https://orders.example", name: "Orders", scopes: ["orders:read"] });
        await services.routes.create("https://orders.example", { path_prefix: "/orders", upstream: upstream.url, scopes: { GET: { all_of: ["orders:read"] } } });
      });
      const result = await runSample(["gateway", "--api", "https://orders.example", "--path", "/orders/42"]);
      expect(result.registered).toEqual(["client sample-gateway (updated)"]);
      expect(result.access_token.claims).toMatchObject({ aud: "https://orders.example", scope: "orders:read", sub: "sample-gateway" });
      expect(result.with_token).toMatchObject({ status: 200, body: { method: "GET", url: "/42" } });
      expect(upstream.received.map((request) => request.headers["x-gatehouse-subject"])).toEqual(["sample-gateway"]);
      expect(result.without_token.status).toBe(401);
      const pathAlone = await start(["gateway", "--path", "/orders"]).done;
      expect(pathAlone.code).toBe(1);
      expect(pathAlone.stderr).toBe("error: --path names a route of the API given with --api\n");
    } finally {
      await upstream.close();
    }
  });

  test("web: signing in on Gatehouse's pages ends at the app's callback, which exchanges the code for alice's tokens", async () => {
    const sample = start(["web", "--json", "--timeout", "60"]);
    const [, address] = await sample.line(/^open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/m);
    const page = await newPage();
    await page.goto(address!);
    expect(await page.title()).toBe("Web app · Gatehouse sample");
    await screenshot(page, "web-start");
    await page.getByRole("link", { name: "Sign in with Gatehouse" }).click();
    await signInAndConsent(page);
    await page.getByRole("status").waitFor();
    expect(await page.getByRole("status").textContent()).toContain("Signed in.");
    expect(await page.locator("dl").innerText()).toContain(aliceId);
    await screenshot(page, "web-result");

    const { code, stdout, stderr } = await sample.done;
    expect(code).toBe(0);
    expect(stdout + stderr).not.toMatch(WHOLE_JWT);
    const result = JSON.parse(stdout);
    expect(result.redirect_uri).toBe(`${address}callback`);
    expect(result.tokens.access_token.claims).toMatchObject({ sub: aliceId, aud: API, scope: "sample:read", client_id: "sample-web" });
    expect(result.tokens.id_token.claims).toMatchObject({ sub: aliceId, aud: "sample-web", name: "Alice Liddell", email: "alice@example.com" });
    expect(result.tokens.scope).toBe("sample:read");
  });

  test("spa: the page does code + PKCE in the browser, calling the token endpoint cross-origin, and reports alice's claims", async () => {
    const sample = start(["spa", "--json", "--timeout", "60"]);
    const [, address] = await sample.line(/^open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/m);
    const page = await newPage();
    const problems: string[] = [];
    // Errors on the sample's own pages (Gatehouse's pages are tested elsewhere): none, CORS included.
    page.on("console", (message) => message.type() === "error" && message.location().url.startsWith(address!) && problems.push(`${message.location().url}: ${message.text()}`));
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(address!);
    await page.getByRole("button", { name: "Sign in with Gatehouse" }).waitFor();
    await screenshot(page, "spa-start");
    await page.getByRole("button", { name: "Sign in with Gatehouse" }).click();
    await signInAndConsent(page);
    await page.getByRole("status").waitFor();
    expect(await page.getByRole("status").textContent()).toContain("Signed in.");
    expect(new URL(page.url()).search).toBe("");
    expect(await page.locator("#facts").innerText()).toContain(aliceId);
    await screenshot(page, "spa-result");
    expect(problems).toEqual([]);

    const { code, stdout, stderr } = await sample.done;
    expect(code).toBe(0);
    expect(stdout + stderr).not.toMatch(WHOLE_JWT);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ client_id: "sample-spa", redirect_uri: `${address}callback` });
    expect(result.tokens.access_token).toMatchObject({ format: "jwt", claims: { sub: aliceId, aud: API, scope: "sample:read", client_id: "sample-spa" } });
    expect(result.tokens.id_token.claims).toMatchObject({ sub: aliceId, aud: "sample-spa", name: "Alice Liddell" });
    expect(result.tokens.id_token_checks).toEqual(["iss", "aud", "nonce", "exp"]);
  });

  test("implicit: tokens come back in the fragment of the https redirect; pasted into the sample's page they verify and open userinfo", async () => {
    const sample = start(["implicit", "--json", "--timeout", "60"]);
    const [, address] = await sample.line(/^open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/m);
    const page = await newPage();
    await page.goto(address!);
    await screenshot(page, "implicit-start");
    // The sign-in opens in a new tab, so the sample's page stays there for the paste.
    const [signIn] = await Promise.all([page.context().waitForEvent("page"), page.getByRole("link", { name: "Sign in with Gatehouse" }).click()]);
    // implicit-sample.gatehouse.test resolves nowhere; here the test stands in for the error page a browser shows.
    await signIn!.route(`${IMPLICIT_REDIRECT}**`, (route) => route.fulfill({ contentType: "text/html", body: "<!doctype html><title>unreachable</title>" }));
    await signInAndConsent(signIn!);
    await signIn!.waitForURL(`${IMPLICIT_REDIRECT}#**`);
    const redirected = signIn!.url();
    expect(new URLSearchParams(new URL(redirected).hash.slice(1)).get("access_token")).toBeTruthy();

    await page.getByLabel("The address your browser shows after signing in").fill(redirected);
    await page.getByRole("button", { name: "Check the tokens" }).click();
    await page.getByRole("status").waitFor();
    expect(await page.getByRole("status").textContent()).toContain("Signed in.");
    await screenshot(page, "implicit-result");

    const { code, stdout, stderr } = await sample.done;
    expect(code).toBe(0);
    expect(stdout + stderr).not.toMatch(WHOLE_JWT);
    const result = JSON.parse(stdout);
    expect(result.tokens.id_token.claims).toMatchObject({ sub: aliceId, aud: "sample-implicit", nonce: expect.any(String), at_hash: expect.any(String) });
    expect(result.tokens.refresh_token).toBeUndefined();
    expect(result.id_token_checks).toEqual(["signature", "iss", "aud", "exp", "nonce", "at_hash"]);
    expect(result.userinfo).toMatchObject({ sub: aliceId, name: "Alice Liddell", email: "alice@example.com" });
  });

  test("device: the sample shows a code and polls while the code is entered on Gatehouse's page; it prints alice's tokens", async () => {
    const sample = start(["device", "--json", "--timeout", "60"]);
    const [, complete] = await sample.line(/^open (http:\/\/\S+\/device\?user_code=\S+) in a browser/m);
    const [, code] = await sample.line(/^ {4}([A-Z]{4}-[A-Z]{4})$/m);
    const page = await newPage();
    await page.goto(complete!);
    await page.locator("#device-user-code").waitFor();
    expect(await page.locator("#device-user-code").textContent()).toBe(code);
    await screenshot(page, "device-confirm");
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Continue" }).click()]);
    await signInAndConsent(page);
    await page.getByRole("heading", { name: "Device connected" }).waitFor();

    const { code: exit, stdout, stderr } = await sample.done;
    expect(exit).toBe(0);
    expect(stdout + stderr).not.toMatch(WHOLE_JWT);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ client_id: "sample-device", api: API, user_code: code });
    expect(result.tokens.access_token.claims).toMatchObject({ sub: aliceId, aud: API, scope: "sample:read", client_id: "sample-device" });
    expect(result.tokens.id_token.claims).toMatchObject({ sub: aliceId, aud: "sample-device" });
    expect(result.tokens.refresh_token).toEqual(expect.any(String));
  });

  test("failures are one clean line and exit code 1: no browser within --timeout, no server at --issuer", async () => {
    const timedOut = await start(["web", "--timeout", "1"]).done;
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toMatch(/\nerror: the sign-in did not finish within 1 s \(--timeout\)\n$/);
    const nowhere = await start(["client-credentials", "--issuer", "http://127.0.0.1:9"]).done;
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toMatch(/^error: cannot reach Gatehouse at http:\/\/127\.0\.0\.1:9: .*Is it running \(npm start\)\?.*\n$/);
    expect(nowhere.stderr).not.toMatch(/\n\s+at /);
  });
});
