import fs from "node:fs";
import path from "node:path";
import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

describe.each(CLI_BACKENDS)("gatehouse reports bad input in one line with exit code 1 (%s)", (backend) => {
  const t = freshGatehouse(backend);

  function writeFile(name: string, content: string): string {
    const file = path.join(t.db.dataDir, name);
    fs.writeFileSync(file, content);
    return file;
  }

  test("an invalid redirect URI", async () => {
    const result = await t.gatehouse("client", "create", "--name", "Web", "--grant", "authorization_code", "--redirect-uri", "not a url");
    expectCleanFailure(result, "redirect_uris[0]: not a url: must not contain wildcards or spaces");
    expect(result.stdout).toBe("");
  });

  test("an unknown grant type, also as JSON with --json", async () => {
    const result = await t.gatehouse("client", "create", "--name", "Svc", "--grant", "magic", "--json");
    expectCleanFailure(result, /argument 'magic' is invalid/);
    expect(JSON.parse(result.stdout).error).toMatch(/argument 'magic' is invalid/);
  });

  test("a rule the service enforces across fields", async () => {
    const result = await t.gatehouse("client", "create", "--name", "Svc", "--grant", "client_credentials", "--public");
    expectCleanFailure(result, "grant_types: a public client cannot use client_credentials");
  });

  test("an unknown client", async () => {
    const result = await t.gatehouse("client", "show", "nobody", "--json");
    expectCleanFailure(result, "client nobody not found");
    expect(JSON.parse(result.stdout)).toEqual({ error: "client nobody not found" });
  });

  test("apply with an unset ${VAR} names the variable and where it is used, and changes nothing", async () => {
    const file = writeFile(
      "unset.yaml",
      "scopes: [{ name: early }]\nclients:\n  - client_id: svc\n    client_name: Svc\n    grant_types: [client_credentials]\n    client_secret: ${GATEHOUSE_TEST_UNSET}\n",
    );
    expectCleanFailure(await t.gatehouse("apply", file), "clients[0].client_secret: environment variable GATEHOUSE_TEST_UNSET is not set");
    expect(await t.gatehouse.json("scope", "list")).toEqual([]);
  });

  test("apply refuses a client secret outside printable ASCII, naming the entry", async () => {
    const file = writeFile("secret.yaml", "clients:\n  - client_id: svc\n    client_name: Svc\n    grant_types: [client_credentials]\n    client_secret: ${S}\n");
    const result = await t.gatehouse.with({ env: { S: "pässwörd-0123456789abcdefghijklmnopqrstuv" } }, "apply", file);
    expectCleanFailure(result, /clients\[0\]\.client_secret: must be printable ASCII/);
  });

  test("apply with bad fields gives the path of each bad value", async () => {
    const file = writeFile(
      "bad.yaml",
      [
        "clients:",
        "  - { client_id: ok-1, client_name: One, grant_types: [client_credentials] }",
        "  - { client_id: ok-2, client_name: Two, grant_types: [client_credentials] }",
        "  - client_id: web",
        "    client_name: Web",
        "    grant_types: [authorization_code]",
        "    redirect_uris: [not-a-url]",
        "    colour: blue",
        "",
      ].join("\n"),
    );
    const result = await t.gatehouse("apply", file);
    expectCleanFailure(result, "clients[2].redirect_uris[0]: not-a-url: must be an absolute URI");
    expect(result.stderr).toMatch(/clients\[2\]: Unrecognized key: "colour"/);
  });

  test("apply of a file that is not YAML, and of a missing file", async () => {
    expectCleanFailure(await t.gatehouse("apply", writeFile("broken.yaml", "clients: [unclosed\n")), /broken\.yaml: /);
    expectCleanFailure(await t.gatehouse("apply", path.join(t.db.dataDir, "missing.yaml")), /ENOENT/);
  });

  test("a rule the service enforces, reported with the entry of the file", async () => {
    const file = writeFile("rule.yaml", "clients:\n  - { client_id: web, client_name: Web, grant_types: [authorization_code] }\n");
    expectCleanFailure(await t.gatehouse("apply", file), "clients[0].redirect_uris: required for authorization_code");
  });

  test("apply with bad routes gives the path of each bad value, and changes nothing", async () => {
    const file = writeFile(
      "bad-routes.yaml",
      [
        "scopes: [{ name: early }]",
        "apis:",
        "  - identifier: https://orders.example",
        "    name: Orders",
        "    routes:",
        "      - { path_prefix: /orders/../admin, upstream: http://127.0.0.1:9000 }",
        "      - { path_prefix: /files, upstream: ftp://files.example }",
        "      - { path_prefix: /files, upstream: http://127.0.0.1:9000, scopes: { FETCH: { all_of: [a] } } }",
        "",
      ].join("\n"),
    );
    const result = await t.gatehouse("apply", file);
    expectCleanFailure(result, "apis[0].routes[0].path_prefix: must not contain . or .. segments");
    expect(result.stderr).toContain("apis[0].routes[1].upstream: Invalid URL");
    expect(result.stderr).toContain("apis[0].routes[2].path_prefix: duplicate path_prefix /files");
    expect(result.stderr).toMatch(/apis\[0\]\.routes\[2\]\.scopes: .*"FETCH"/);
    expect(await t.gatehouse.json("scope", "list")).toEqual([]);
  });

  test("a rule the route service enforces, reported with the route's path in the file", async () => {
    const file = writeFile(
      "public-route.yaml",
      "apis:\n  - identifier: https://open.example\n    name: Open\n    routes:\n      - { path_prefix: /, upstream: http://127.0.0.1:9000, public: true, scopes: { '*': { all_of: [a] } } }\n",
    );
    expectCleanFailure(await t.gatehouse("apply", file), "apis[0].routes[0].scopes: a public route requires no scopes");
  });

  test("apply of an outbound client without a secret, stored or given", async () => {
    const file = writeFile(
      "no-secret.yaml",
      "apis:\n  - identifier: https://partner.example\n    name: Partner\n    outbound_oauth: { token_url: https://idp.example/token, client_id: gatehouse }\n",
    );
    expectCleanFailure(await t.gatehouse("apply", file), "apis[0].outbound_oauth.client_secret: required");
  });
});
