import { CLI_BACKENDS } from "../helpers/databases.ts";
import { freshGatehouse } from "./gatehouse.ts";

interface Key {
  kid: string;
  alg: string;
  status: "active" | "next" | "retired";
  expires_at: string | null;
}

describe.each(CLI_BACKENDS)("gatehouse keys (%s)", (backend) => {
  const t = freshGatehouse(backend);

  test("rotate signs with the published next key and keeps the previous one listed as retired", async () => {
    const first = await t.gatehouse.json("keys", "rotate");
    const before: Key[] = await t.gatehouse.json("keys", "list");
    expect(before.find((k) => k.status === "active")?.kid).toBe(first.active);
    expect(before.find((k) => k.status === "next")?.kid).toBe(first.next);

    const second = await t.gatehouse.json("keys", "rotate", "--alg", "RS256");
    expect(second.active).toBe(first.next);
    expect(second.retired).toBe(first.active);
    const after: Key[] = await t.gatehouse.json("keys", "list");
    expect(after.find((k) => k.status === "active")?.kid).toBe(first.next);
    expect(after.find((k) => k.kid === first.active)).toMatchObject({ status: "retired", expires_at: expect.any(String) });
    expect(after.find((k) => k.status === "next")).toMatchObject({ kid: second.next, alg: "RS256" });
    expect(JSON.stringify(after)).not.toMatch(/"d"|privateKey/);
  });

  test("the retired key stays published for the longest lifetime of a token it can have signed", async () => {
    await t.gatehouse.json("api", "create", "--identifier", "https://long.example", "--name", "Long", "--ttl", "7200");
    expect((await t.gatehouse.json("keys", "rotate")).retired_published_for_seconds).toBe(7200);
    // A client's own access token lifetime applies to opaque tokens only, which are not signed.
    await t.gatehouse.json("client", "create", "--name", "Slow", "--grant", "client_credentials", "--access-token-ttl", "50000");
    expect((await t.gatehouse.json("keys", "rotate")).retired_published_for_seconds).toBe(7200);
    await t.gatehouse.json("api", "update", "https://long.example", "--ttl", "20000");
    const rotated = await t.gatehouse.json("keys", "rotate");
    expect(rotated.retired_published_for_seconds).toBe(20000);
    const retired = ((await t.gatehouse.json("keys", "list")) as Key[]).find((k) => k.kid === rotated.retired)!;
    const expiresIn = (Date.parse(retired.expires_at!) - Date.now()) / 1000;
    expect(expiresIn).toBeGreaterThan(20000 - 120);
    expect(expiresIn).toBeLessThanOrEqual(20000);
  });
});
