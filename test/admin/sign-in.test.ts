// Signing in to the console: Gatehouse's own code flow with PKCE through the ordinary login page, a
// server-side session, roles (admin, viewer, anyone else refused), and signing out of both the console
// and the authorization server.
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const PASSWORD = "correct horse battery staple";

describe.each(BACKENDS)("console sign-in on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    await withServices(db, async (services) => {
      await services.users.create({ username: "ada", password: PASSWORD, roles: ["admin"] });
      await services.users.create({ username: "viv", password: PASSWORD, roles: ["viewer"] });
      await services.users.create({ username: "nobody", password: PASSWORD, roles: [] });
    });
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  /** Opens the console and signs in through the login page; returns the page the console answers with. */
  async function signIn(agent: UserAgent, username: string, password = PASSWORD, path = "/admin") {
    const start = await agent.follow(`${gatehouse.issuer}${path}`, gatehouse.issuer);
    expect(start.page?.html).toContain('name="password"');
    return agent.submit(start.page!, { username, password }, gatehouse.issuer);
  }

  test("an admin signs in without a consent page and lands where they were going", async () => {
    const agent = new UserAgent();
    const result = await signIn(agent, "ada", PASSWORD, "/admin?from=bookmark");
    expect(result.page?.status).toBe(200);
    expect(result.page?.url).toBe(`${gatehouse.issuer}/admin?from=bookmark`);
    expect(result.page?.html).toContain("Signed in as <strong>ada</strong>");
  });

  test("a viewer signs in; someone without a console role is refused after signing in", async () => {
    expect((await signIn(new UserAgent(), "viv")).page?.html).toContain("(viewer)");
    const refused = await signIn(new UserAgent(), "nobody");
    expect(refused.page?.status).toBe(403);
    expect(refused.page?.html).toContain("No access to the console");
  });

  test("signing out ends the console session and the authorization server's session", async () => {
    const agent = new UserAgent();
    const dashboard = await signIn(agent, "ada");
    const confirm = await agent.submit(dashboard.page!, {}, gatehouse.issuer);
    expect(confirm.page?.html).toMatch(/sign (me )?out/i);
    const done = await agent.submit(confirm.page!, { logout: "yes" }, gatehouse.issuer);
    expect(done.page?.html).toContain("You have signed out of the Gatehouse console");
    const again = await agent.follow(`${gatehouse.issuer}/admin`, gatehouse.issuer);
    expect(again.page?.html).toContain('name="password"');
  });
});
