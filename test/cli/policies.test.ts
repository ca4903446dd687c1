// `gatehouse policy`: the catalog and a policy's reference from its schema, attach (options made from the
// schema), list and detach on an API and a route, and malformed configurations refused naming the field.
import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";

describe.each(CLI_BACKENDS)("gatehouse policy (%s)", (backend) => {
  const t = freshGatehouse(backend);
  let route: string;

  beforeAll(async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders");
    route = (await t.gatehouse.json("route", "add", "--api", API, "--path", "/status", "--upstream", "http://127.0.0.1:9000", "--public")).id;
  });

  test("list and show describe every policy from its schema", async () => {
    const [list, show, help] = await Promise.all([
      t.gatehouse.json("policy", "list"),
      t.gatehouse("policy", "show", "rate_limit"),
      t.gatehouse("policy", "attach", "cors", "--help"),
    ]);
    expect(list.map((p: { id: string }) => p.id)).toEqual(["cors", "rate_limit", "claim_headers", "forward_token", "token_exchange", "outbound_oauth", "dpop"]);
    expect(show.stdout).toContain("rate_limit — Rate limit");
    expect(show.stdout).toMatch(/^ {2}limits {2}\(list of \{name, by, requests, per, burst\}, required\)$/m);
    expect(show.stdout).toMatch(/^ {6}per {2}\(one of second, minute, hour, required\)$/m);
    expect(help.stdout).toMatch(/--max-age <value>\s+Seconds a browser[^(]+\(Access-Control-Max-Age\)\.\s+\(integer 0–86400, default\s+600\)/);
  });

  test("attach a rate limit and CORS to an API and a limit to a route; list shows them; detach removes them", async () => {
    const limits = await t.gatehouse.json(
      "policy", "attach", "rate_limit", "--api", API,
      "--limit", "by=client requests=100 per=minute", "--limit", "name=bursts by=subject requests=5 per=second burst=10",
    );
    expect(limits).toEqual({ limits: [{ by: "client", requests: 100, per: "minute" }, { name: "bursts", by: "subject", requests: 5, per: "second", burst: 10 }] });
    const cors = await t.gatehouse.json("policy", "attach", "cors", "--api", API, "--origins", "https://app.example,https://admin.example", "--credentials", "--expose-headers", "X-Total-Count", "--max-age", "60");
    expect(cors).toEqual({
      origins: ["https://app.example", "https://admin.example"],
      methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      headers: ["Authorization", "Content-Type"],
      expose_headers: ["X-Total-Count"],
      max_age: 60,
      credentials: true,
    });
    await t.gatehouse.json("policy", "attach", "rate_limit", "--route", route, "--limit", "by=address requests=10 per=second");

    const text = await t.gatehouse("policy", "list", "--api", API);
    expect(text.stdout).toMatch(/^rate_limit\n {2}limits {2}by=client requests=100 per=minute\n {10}name=bursts by=subject requests=5 per=second burst=10$/m);
    expect((await t.gatehouse.json("api", "show", API)).policies).toEqual({ cors, rate_limit: limits });
    expect(await t.gatehouse.json("policy", "list", "--route", route)).toEqual({ rate_limit: { limits: [{ by: "address", requests: 10, per: "second" }] } });

    expect(await t.gatehouse.json("policy", "detach", "cors", "--api", API)).toEqual({ detached: "cors", api: API });
    expect(await t.gatehouse.json("policy", "list", "--api", API)).toEqual({ rate_limit: limits });
    expectCleanFailure(await t.gatehouse("policy", "detach", "cors", "--api", API), `policy cors is not attached to api ${API}`);
  });

  test("malformed policies exit 1 naming the field, and change nothing", async () => {
    const before = await t.gatehouse.json("api", "show", API);
    const attach = (...args: string[]) => t.gatehouse("policy", "attach", ...args);
    const results = await Promise.all([
      attach("cors", "--api", API, "--origins", "*", "--credentials"),
      attach("cors", "--api", API, "--origins", "https://app.example/"),
      attach("cors", "--api", API, "--origins", "https://app.example", "--max-age", "forever"),
      attach("rate_limit", "--api", API, "--limit", "by=client requests=0 per=minute"),
      attach("rate_limit", "--api", API, "--limit", "by=client requests=1 per=fortnight"),
      attach("rate_limit", "--api", API, "--limit", "by=client requests=1 per=minute colour=red"),
      attach("rate_limit", "--route", route, "--limit", "by=client requests=1 per=minute"),
      attach("rate_limit", "--limit", "by=client requests=1 per=minute"),
      attach("rate_limit", "--api", "https://nowhere.example", "--limit", "by=client requests=1 per=minute"),
      attach("throttle", "--api", API),
    ]);
    const expected: Array<string | RegExp> = [
      "policies.cors.origins[0]: credentials need the origins listed: * cannot be used with credentials",
      "policies.cors.origins[0]: an origin exactly as browsers send it",
      /policies\.cors\.max_age: Invalid input: expected number/,
      /policies\.rate_limit\.limits\[0\]\.requests: Too small/,
      /policies\.rate_limit\.limits\[0\]\.per: Invalid option/,
      'policies.rate_limit.limits[0]: Unrecognized key: "colour"',
      "policies.rate_limit.limits[0].by: a public route has no token to count by client: limit client-per-minute by address",
      "give --api IDENTIFIER or --route ID (one of them)",
      "api https://nowhere.example not found",
      "unknown command 'throttle'",
    ];
    results.forEach((result, i) => expectCleanFailure(result, expected[i]!));
    expect(await t.gatehouse.json("api", "show", API)).toEqual(before);
  });
});
