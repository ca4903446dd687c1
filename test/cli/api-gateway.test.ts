import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse, storedOutboundSecret } from "./gatehouse.ts";

const OUTBOUND_SECRET = "partner-client-secret-0123456789";

describe.each(CLI_BACKENDS)("gatehouse api gateway settings (%s)", (backend) => {
  const t = freshGatehouse(backend);

  test("create takes the gateway settings; show, list, update and export never reveal the outbound secret, in clear or sealed", async () => {
    const created = await t.gatehouse.json(
      "api", "create", "--identifier", "https://orders.example", "--name", "Orders", "--scope", "orders:read",
      "--token-check", "introspection",
      "--trust-issuer", "https://login.partner.example=https://login.partner.example/jwks",
      "--allow-query-token",
      "--claim-header", "sub=X-User-Id", "--claim-header", "email=X-User-Email",
      "--forward-token", "signed",
      "--outbound-token-url", "${PARTNER_IDP}/oauth2/token", "--outbound-client-id", "gatehouse-orders",
      "--outbound-client-secret", OUTBOUND_SECRET, "--outbound-auth", "body",
      "--outbound-scope", "inventory.read inventory.write", "--outbound-resource", "https://inventory.example",
      "--outbound-header", "X-Partner-Token", "--outbound-remove-header", "Cookie", "--outbound-remove-header", "X-Debug",
      "--introspection-client", "orders-resource-server",
    );
    expect(created).toEqual({
      identifier: "https://orders.example",
      name: "Orders",
      token_format: "jwt",
      access_token_ttl: 3600,
      scopes: ["orders:read"],
      token_check: "introspection",
      trusted_issuers: [{ issuer: "https://login.partner.example", jwks_uri: "https://login.partner.example/jwks", algorithms: ["RS256", "ES256"] }],
      allow_query_token: true,
      introspection_clients: ["orders-resource-server"],
      // --claim-header, --forward-token and --outbound-* are shortcuts for these policies.
      policies: {
        claim_headers: { claims: { sub: "X-User-Id", email: "X-User-Email" } },
        forward_token: { mode: "signed" },
        // The ${PARTNER_IDP} reference is kept for the gateway to resolve.
        outbound_oauth: {
          token_url: "${PARTNER_IDP}/oauth2/token",
          client_id: "gatehouse-orders",
          auth_method: "body",
          scope: "inventory.read inventory.write",
          resource: "https://inventory.example",
          header: "X-Partner-Token",
          remove_headers: ["Cookie", "X-Debug"],
          has_client_secret: true,
        },
      },
    });
    expect(await t.gatehouse.json("api", "show", "https://orders.example")).toEqual(created);

    const { sealed, plaintext } = await storedOutboundSecret(t.db, "https://orders.example");
    expect(plaintext).toBe(OUTBOUND_SECRET);
    expect(sealed).not.toContain(OUTBOUND_SECRET);
    const outputs = await Promise.all([
      t.gatehouse("api", "show", "https://orders.example"),
      t.gatehouse("api", "show", "https://orders.example", "--json"),
      t.gatehouse("api", "list"),
      t.gatehouse("api", "list", "--json"),
      t.gatehouse("api", "update", "https://orders.example", "--json"),
      t.gatehouse("export"),
      t.gatehouse("export", "--format", "json"),
    ]);
    for (const { code, stdout, stderr } of outputs) {
      expect(code).toBe(0);
      expect(stdout).toContain("https://orders.example");
      for (const secret of [OUTBOUND_SECRET, sealed]) {
        expect(stdout).not.toContain(secret);
        expect(stderr).not.toContain(secret);
      }
      // has_client_secret says there is one; no field carries it.
      expect(stdout).not.toMatch(/(^|[^_])client_secret|sealed/im);
    }
    // `update` without options changed nothing, not even the seal.
    expect((await storedOutboundSecret(t.db, "https://orders.example")).sealed).toBe(sealed);
  });

  test("update lays the options given over the stored settings, keeping the outbound secret unless given", async () => {
    await t.gatehouse.with(
      { stdin: "${INVENTORY_SECRET}\n" },
      "api", "create", "--identifier", "https://inventory.example", "--name", "Inventory",
      "--claim-header", "sub=X-User-Id", "--trust-issuer", "https://a.example=https://a.example/jwks",
      "--outbound-token-url", "https://idp.example/token", "--outbound-client-id", "inventory",
      "--outbound-client-secret-stdin", "--outbound-scope", "stock",
    );
    // A reference is sealed as written: the gateway resolves it.
    const before = await storedOutboundSecret(t.db, "https://inventory.example");
    expect(before.plaintext).toBe("${INVENTORY_SECRET}");

    const updated = await t.gatehouse.json(
      "api", "update", "https://inventory.example", "--name", "Stock", "--no-claim-header", "--no-outbound-scope",
      "--trust-issuer", "https://b.example=https://b.example/jwks", "--outbound-resource", "https://stock.example",
    );
    expect(updated).toMatchObject({
      name: "Stock",
      trusted_issuers: [{ issuer: "https://b.example", jwks_uri: "https://b.example/jwks" }],
    });
    // --no-claim-header detached the policy; the outbound options were laid over the stored ones.
    expect(updated.policies).toEqual({
      outbound_oauth: { token_url: "https://idp.example/token", client_id: "inventory", auth_method: "basic", scope: null, resource: "https://stock.example", header: "Authorization", remove_headers: [], has_client_secret: true },
    });
    expect((await storedOutboundSecret(t.db, "https://inventory.example")).sealed).toBe(before.sealed);

    await t.gatehouse.with({ stdin: "rotated-secret-0123456789\n" }, "api", "update", "https://inventory.example", "--outbound-client-secret-stdin");
    expect((await storedOutboundSecret(t.db, "https://inventory.example")).plaintext).toBe("rotated-secret-0123456789");

    expect(await t.gatehouse.json("api", "update", "https://inventory.example", "--no-outbound-oauth", "--no-trust-issuer")).toMatchObject({
      name: "Stock",
      trusted_issuers: [],
      policies: {},
    });
    expect(await t.gatehouse.json("api", "update", "https://inventory.example", "--introspection-client", "a", "--introspection-client", "b")).toMatchObject({ introspection_clients: ["a", "b"] });
    expect(await t.gatehouse.json("api", "update", "https://inventory.example", "--no-introspection-client")).toMatchObject({ introspection_clients: [] });
  });

  test("bad gateway options exit 1 naming the field or option", async () => {
    const create = (...args: string[]) => t.gatehouse("api", "create", "--identifier", "https://bad.example", "--name", "Bad", ...args);
    expectCleanFailure(await create("--trust-issuer", "https://a.example"), /'--trust-issuer <issuer=jwks_uri>' argument 'https:\/\/a.example' is invalid. Expected ISSUER=JWKS_URI/);
    expectCleanFailure(await create("--trust-issuer", "not-a-url=https://a.example/jwks"), "trusted_issuers[0].issuer: Invalid URL");
    expectCleanFailure(await create("--claim-header", "sub=X User"), "claim_headers.sub: invalid header name");
    expectCleanFailure(await create("--forward-token", "forged"), /argument 'forged' is invalid/);
    expectCleanFailure(await create("--outbound-client-id", "x"), "outbound_oauth: --outbound-token-url, --outbound-client-secret required with the other --outbound-* options");
    expectCleanFailure(
      await create("--outbound-token-url", "not a url", "--outbound-client-id", "x", "--outbound-client-secret", "s"),
      "outbound_oauth.token_url: must be a URL or contain a ${NAME} reference",
    );
    expectCleanFailure(await t.gatehouse("api", "update", "https://nowhere.example", "--name", "X"), "api https://nowhere.example not found");
    expect(await t.gatehouse.json("api", "list")).not.toContainEqual(expect.objectContaining({ identifier: "https://bad.example" }));
  });
});
