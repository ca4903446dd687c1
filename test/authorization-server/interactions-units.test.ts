// The interaction building blocks on their own: CSRF tokens, form parsing, the consent page's contents,
// remembered consent against a real SQLite database, and the security headers (served by a bare Koa app).
import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import type { Grant } from "oidc-provider";
import { CsrfTokens } from "../../src/web/csrf.ts";
import { parseForm } from "../../src/web/form.ts";
import { consentRequest, promptDetails } from "../../src/authorization-server/interactions/consent-details.ts";
import { rememberConsent } from "../../src/authorization-server/interactions/consent.ts";
import { PageError } from "../../src/web/errors.ts";
import type { Catalog } from "../../src/authorization-server/catalog.ts";
import { allowFormAction, securityHeaders } from "../../src/shared/security-headers.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";

describe("CSRF tokens", () => {
  const tokens = new CsrfTokens(["first-secret-of-at-least-32-characters"], "interaction");

  test("a token verifies for its own interaction only", () => {
    const token = tokens.issue("uid-1");
    expect(tokens.verify("uid-1", token)).toBe(true);
    expect(tokens.verify("uid-2", token)).toBe(false);
  });

  test("missing, empty and malformed tokens fail", () => {
    expect(tokens.verify("uid-1", undefined)).toBe(false);
    expect(tokens.verify("uid-1", "")).toBe(false);
    expect(tokens.verify("uid-1", "not a token")).toBe(false);
    expect(tokens.verify("uid-1", tokens.issue("uid-1").slice(0, -2))).toBe(false);
  });

  test("tokens from another secret fail, and survive rotation while their secret is still listed", () => {
    const old = new CsrfTokens(["old-secret-of-at-least-32-characters!!"], "interaction");
    const token = old.issue("uid-1");
    expect(tokens.verify("uid-1", token)).toBe(false);
    const rotated = new CsrfTokens(["new-secret-of-at-least-32-characters!!", "old-secret-of-at-least-32-characters!!"], "interaction");
    expect(rotated.verify("uid-1", token)).toBe(true);
    expect(rotated.issue("uid-1")).not.toBe(token);
  });

  test("a token for one kind of form is not accepted by another", () => {
    const secrets = ["first-secret-of-at-least-32-characters"];
    const consoleTokens = new CsrfTokens(secrets, "console");
    expect(consoleTokens.verify("uid-1", tokens.issue("uid-1"))).toBe(false);
  });

  test("refuses to start without a secret", () => {
    expect(() => new CsrfTokens([], "interaction")).toThrow(/cookie secret/);
  });
});

describe("form parsing", () => {
  test("decodes urlencoded fields", () => {
    expect(parseForm("username=al%20ice&password=p%26ss+word&csrf=")).toEqual({ username: "al ice", password: "p&ss word", csrf: "" });
  });

  test("refuses a repeated field", () => {
    let refusal: unknown;
    try {
      parseForm("username=a&csrf=t&username=b");
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(PageError);
    expect(refusal).toMatchObject({ status: 400, error: "invalid_request" });
  });

  test("field names are not object properties", () => {
    const form = parseForm("__proto__=x&constructor=y");
    expect(form["__proto__"]).toBe("x");
    expect(Object.getPrototypeOf(form)).toBeNull();
  });
});

describe("remembered consent on SQLite", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
  });

  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  async function user(username: string, enabled = true) {
    await services.users.create({ username, password: `${username}-password-123`, enabled });
    return (await storage.users.findByUsername(username))!;
  }

  test("remembered consent merges with what was granted before", async () => {
    const frank = await user("frank");
    const grant = (scope: string, claims: string[], resources: Record<string, string>) =>
      ({
        resources,
        getOIDCScope: () => scope,
        getOIDCClaims: () => claims,
        getResourceScope: (indicator: string) => resources[indicator] ?? "",
      }) as unknown as Grant;
    await rememberConsent(storage, frank.id, "client-1", grant("openid profile", ["name"], { "https://a.example": "a:read" }));
    await rememberConsent(storage, frank.id, "client-1", grant("openid email", [], { "https://a.example": "a:write", "https://b.example": "b:read" }));
    expect(await storage.consents.find(frank.id, "client-1")).toEqual({
      userId: frank.id,
      clientId: "client-1",
      scopes: ["openid", "profile", "email"],
      claims: ["name"],
      resources: { "https://a.example": ["a:read", "a:write"], "https://b.example": ["b:read"] },
    });
    expect(await storage.consents.find(frank.id, "client-2")).toBeNull();
  });
});

describe("consent page contents", () => {
  const catalog = {
    scopeDescription: (name: string) => ({ "orders:read": "Read your orders", profile: "Custom profile text" })[name],
    api: (identifier: string) => (identifier === "https://orders.example.com" ? { name: "Orders" } : undefined),
  } as unknown as Catalog;

  test("describes scopes (registered first, then built in), lists each API once, drops protocol claims", () => {
    const request = consentRequest(
      catalog,
      promptDetails({
        missingOIDCScope: ["openid", "profile", "email", "orders:read", "custom"],
        missingOIDCClaims: ["sub", "auth_time", "nickname"],
        missingResourceScopes: { "https://orders.example.com": ["orders:read"], "https://unknown.example.com": ["x"] },
      }),
    );
    expect(request.scopes).toEqual([
      { name: "openid", description: "Sign you in with your account" },
      { name: "profile", description: "Custom profile text" },
      { name: "email", description: "See your email address" },
      { name: "custom", description: "" },
    ]);
    expect(request.claims).toEqual(["nickname"]);
    expect(request.apis).toEqual([
      { identifier: "https://orders.example.com", name: "Orders", scopes: [{ name: "orders:read", description: "Read your orders" }] },
      { identifier: "https://unknown.example.com", name: "https://unknown.example.com", scopes: [{ name: "x", description: "" }] },
    ]);
    expect(request.reconfirm).toBe(false);
  });

  test("nothing missing means a reconfirmation; malformed details are ignored", () => {
    expect(consentRequest(catalog, promptDetails({})).reconfirm).toBe(true);
    expect(consentRequest(catalog, promptDetails({ missingOIDCScope: "openid", missingResourceScopes: 3 })).reconfirm).toBe(true);
  });
});

describe("security headers", () => {
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const app = new Koa();
    app.use(securityHeaders());
    app.use(async (ctx) => {
      if (ctx.path === "/page") {
        allowFormAction(ctx, "http://localhost:5555/cb?x=1");
        allowFormAction(ctx, "com.example.app:/callback");
        allowFormAction(ctx, "http://localhost:5555/other");
        allowFormAction(ctx, "not a uri; script-src *");
        ctx.type = "html";
        ctx.body = "<p>page</p>";
      } else if (ctx.path === "/form-post") {
        // What oidc-provider's form_post page does with an existing policy.
        const csp = ctx.response.get("content-security-policy");
        ctx.set("content-security-policy", csp.replace("script-src 'none'", "script-src 'none' 'sha256-abc'").replace(/; /g, ";"));
        ctx.type = "html";
        ctx.body = "<form></form>";
      } else {
        ctx.body = { ok: true };
      }
    });
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("every response carries nosniff, no-referrer, DENY and the base policy", async () => {
    const response = await fetch(`${base}/json`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("content-security-policy")).toBe(
      "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
  });

  test("allowFormAction adds an origin or a scheme once, and ignores what is not a URI", async () => {
    const csp = (await fetch(`${base}/page`)).headers.get("content-security-policy")!;
    expect(csp).toContain("form-action 'self' http://localhost:5555 com.example.app:;");
    expect(csp).not.toContain("script-src *");
  });

  test("a script hash added by oidc-provider replaces script-src 'none'", async () => {
    const csp = (await fetch(`${base}/form-post`)).headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'sha256-abc';");
    expect(csp).toContain("default-src 'none';");
  });
});
