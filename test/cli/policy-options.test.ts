// `--limit` is one object as key=value pairs: a key given twice is refused, naming it, never the last one kept.
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";

describe("policy attach --limit (sqlite)", () => {
  const t = freshGatehouse("sqlite");

  test("a repeated key is refused naming it, and nothing is attached", async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders");
    const result = await t.gatehouse("policy", "attach", "rate_limit", "--api", API, "--limit", "by=client requests=2 per=minute by=address");
    expectCleanFailure(result, /by is given twice in "by=client requests=2 per=minute by=address": give each key once/);
    expect(await t.gatehouse.json("policy", "list", "--api", API)).toEqual({});
  });
});
