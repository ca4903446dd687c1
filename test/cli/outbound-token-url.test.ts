// An outbound_oauth token_url is shown by api show and written by export: user info in it (a password)
// is refused, the secret belongs in client_secret.
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";
const SECRET = "hunter2-very-secret";

describe("outbound_oauth token_url with user info (sqlite)", () => {
  const t = freshGatehouse("sqlite");

  test("refused at validation, naming the field; nothing stored, nothing printed", async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders");
    const attach = (url: string) => t.gatehouse("policy", "attach", "outbound_oauth", "--api", API, "--token-url", url, "--client-id", "gw", "--client-secret", "s3cret-value");
    const [plain, user, reference] = await Promise.all([attach(`http://user:${SECRET}@idp.example/t`), attach("https://user@idp.example/t"), attach("https://gw:${IDP_SECRET}@${IDP_HOST}/t")]);
    for (const result of [plain, user, reference]) expectCleanFailure(result, /token_url: must not carry user info \(user:password@\): give the credentials as client_id and client_secret/);
    expect(plain.stderr).not.toContain(SECRET);
    expect((await t.gatehouse.json("api", "show", API)).policies).toEqual({});
    expect((await attach("https://idp.example/t?x=a@b")).code).toBe(0);
  });
});
