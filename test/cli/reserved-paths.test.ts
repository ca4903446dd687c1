// /healthz and /readyz are the gateway's own on its port: a route cannot claim them or anything under them.
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";

describe("routes on the probe paths (sqlite)", () => {
  const t = freshGatehouse("sqlite");

  test("route add refuses /healthz, /readyz and paths under them, naming path_prefix; a path that only starts alike is fine", async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders");
    const add = (path: string) => t.gatehouse("route", "add", "--api", API, "--path", path, "--upstream", "http://127.0.0.1:9000");
    const [healthz, readyz, under, encoded] = await Promise.all([add("/healthz"), add("/readyz"), add("/healthz/deep"), add("/%68ealthz")]);
    expectCleanFailure(healthz, /path_prefix: \/healthz is reserved: the gateway answers \/healthz/);
    expectCleanFailure(readyz, /path_prefix: \/readyz is reserved/);
    expectCleanFailure(under, /path_prefix: \/healthz\/deep is reserved/);
    expectCleanFailure(encoded, /path_prefix: \/%68ealthz is reserved/);
    expect((await add("/healthzone")).code).toBe(0);
    expect(await t.gatehouse.json("route", "list", "--api", API)).toEqual([expect.objectContaining({ path_prefix: "/healthzone" })]);
  });
});
