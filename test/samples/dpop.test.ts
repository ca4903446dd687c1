// `gatehouse sample dpop` through the real CLI entry against a real Gatehouse (SQLite): the sample gets a
// DPoP-bound token (openid-client, with the server's nonce when it asks for one) and calls its own route,
// which has the dpop policy, through the gateway; the same token as a plain Bearer token is refused. Its
// printed result shows the binding (cnf.jkt = the key's thumbprint) and never a whole token.
import { spawn } from "node:child_process";
import path from "node:path";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { NODE, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";

const MAIN = path.resolve("src/cli/main.ts");
/** A whole compact JWS: no sample output may contain one. */
const WHOLE_JWT = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/;

describe.each([["optional", "false"], ["required", "true"]])("gatehouse sample dpop (server nonces %s)", (_name, requireNonce) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    gatehouse = await startGatehouse(db, { DPOP_REQUIRE_NONCE: requireNonce });
  }, 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  function runSample(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(NODE, [MAIN, "sample", ...args], { cwd: db.dataDir, env: { PATH: process.env.PATH ?? "", ...gatehouse.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  test("a DPoP-bound token opens the sample's DPoP-only route; the same token as Bearer is refused", async () => {
    const { code, stdout, stderr } = await runSample(["dpop", "--json"]);
    if (code !== 0) throw new Error(`gatehouse sample dpop exited ${code}:\n${stderr}\n${stdout}`);
    expect(stdout).not.toMatch(WHOLE_JWT);
    expect(stderr).not.toMatch(WHOLE_JWT);
    const result = JSON.parse(stdout);
    expect(result.client_id).toBe("sample-dpop");
    expect(result.token_type).toBe("dpop");
    expect(result.cnf).toEqual({ jkt: result.key_thumbprint });
    expect(result.registered).toEqual(expect.arrayContaining(["client sample-dpop (created)", expect.stringMatching(/^route \/gatehouse-sample-dpop of .* with the dpop policy \(created/)]));
    expect(result.with_dpop.status).toBe(200);
    expect(result.with_dpop.body).toMatchObject({ method: "GET", identity: { "x-gatehouse-subject": "sample-dpop", "x-gatehouse-client-id": "sample-dpop" } });
    expect(result.as_bearer.status).toBe(401);
    expect(result.as_bearer.challenge).toMatch(/^DPoP realm="gatehouse", error="invalid_token", .*algs="[^"]*ES256[^"]*"$/);
  });

  test("the sample is listed", async () => {
    const { stdout } = await runSample(["--json"]);
    expect(JSON.parse(stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ flow: "dpop", grant: "client_credentials + DPoP", interactive: false })]));
  });
});
