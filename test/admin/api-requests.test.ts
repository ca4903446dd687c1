// How the admin API reads requests and refuses bad ones: JSON bodies only (415), bounded (413, also
// while streaming), parseable (400), objects; path and query parameters checked by their schemas; 404
// and 405 problems for what it does not serve; no-store and browser hardening on every answer.
import { BACKENDS } from "../helpers/databases.ts";
import { adminApiSuite } from "./api-harness.ts";

const MAX_BODY_BYTES = 2048;

describe.each(BACKENDS)("admin API requests on %s", (backend) => {
  const api = adminApiSuite(backend, { MAX_BODY_BYTES: String(MAX_BODY_BYTES) });

  test("a body that is not JSON is 415; no body where one is needed names the missing fields", async () => {
    const token = await api.writeToken();
    for (const type of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const answer = await api.call("POST", "/v1/scopes", { token, body: "name=orders", headers: { "content-type": type } });
      expect([type, answer.status, answer.body.type]).toEqual([type, 415, "https://gatehouse.dev/problems/unsupported_media_type"]);
    }
    const vendorJson = await api.call("POST", "/v1/scopes", { token, body: JSON.stringify({ name: "vendor:json" }), headers: { "content-type": "application/merge-patch+json" } });
    expect(vendorJson.status).toBe(201);

    const empty = await api.call("POST", "/v1/clients", { token });
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual([{ field: "client_name", message: expect.any(String) }]);
  });

  test("a body over MAX_BODY_BYTES is 413, with a Content-Length and while streaming", async () => {
    const token = await api.writeToken();
    const big = { name: "big", description: "x".repeat(MAX_BODY_BYTES) };
    const declared = await api.call("POST", "/v1/scopes", { token, body: big });
    expect([declared.status, declared.body.type]).toEqual([413, "https://gatehouse.dev/problems/payload_too_large"]);
    expect(declared.headers.get("connection")).toBe("close");

    const chunk = new TextEncoder().encode(" ".repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 4) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${api.gatehouse.issuer}/admin/api/v1/scopes`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { type: string }).type).toBe("https://gatehouse.dev/problems/payload_too_large");
  });

  test("malformed JSON is 400 malformed_json; a body that is not an object is 400 invalid_input", async () => {
    const token = await api.writeToken();
    const malformed = await api.call("POST", "/v1/scopes", { token, body: '{"name": "a",' });
    expect([malformed.status, malformed.body.type]).toEqual([400, "https://gatehouse.dev/problems/malformed_json"]);
    for (const body of ["[]", "null", '"name"', "42"]) {
      const answer = await api.call("POST", "/v1/scopes", { token, body });
      expect([body, answer.status, answer.body.errors]).toEqual([body, 400, [{ field: "", message: "must be a JSON object" }]]);
    }
  });

  test("every bad value is named: unknown fields, query and path parameters", async () => {
    const token = await api.writeToken();
    const body = await api.call("POST", "/v1/users", { token, body: { username: "has space", password: "short", colour: "red" } });
    expect(body.status).toBe(400);
    expect(body.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(["colour", "password", "username"]);
    expect(body.body.errors.find((e: { field: string }) => e.field === "colour").message).toBe("unknown field");

    const query = await api.call("GET", "/v1/clients?limit=0&offset=-1&colour=red", { token });
    expect(query.status).toBe(400);
    expect(query.body.errors).toEqual([
      { field: "offset", message: expect.any(String) },
      { field: "limit", message: expect.any(String) },
      { field: "colour", message: "unknown query parameter" },
    ]);
    const repeated = await api.call("GET", "/v1/users?limit=1&limit=2", { token });
    expect([repeated.status, repeated.body.errors[0].field]).toEqual([400, "limit"]);
    const notANumber = await api.call("GET", "/v1/audit?limit=many&since=yesterday", { token });
    expect(notANumber.body.errors.map((e: { field: string }) => e.field)).toEqual(["limit", "since"]);

    const path = await api.call("GET", "/v1/routes/not-a-uuid", { token });
    expect([path.status, path.body.errors[0].field]).toEqual([400, "id"]);
    const clientId = await api.call("GET", "/v1/clients/x", { token });
    expect([clientId.status, clientId.body.errors[0].field]).toEqual([400, "client_id"]);
  });

  test("what is not served: 404 and 405 problems, OPTIONS with Allow, HEAD without a body", async () => {
    const token = await api.writeToken();
    for (const path of ["/v2/clients", "/v1/nothing", "", "/v1/clients/abc/nothing"]) {
      const answer = await api.call("GET", path, { token });
      expect([path, answer.status, answer.body.type]).toEqual([path, 404, "https://gatehouse.dev/problems/not_found"]);
    }
    const wrongMethod = await api.call("PUT", "/v1/clients", { token, body: {} });
    expect([wrongMethod.status, wrongMethod.body.type]).toEqual([405, "https://gatehouse.dev/problems/method_not_allowed"]);
    expect(wrongMethod.headers.get("allow")).toBe("HEAD, GET, POST");
    const options = await api.call("OPTIONS", "/v1/users/ada", { token });
    expect([options.status, options.headers.get("allow")]).toEqual([204, "HEAD, GET, PATCH, DELETE"]);
    const head = await api.call("HEAD", "/v1/users/ada", { token });
    expect([head.status, head.body, head.headers.get("etag")]).toEqual([200, "", expect.stringMatching(/^"[\w-]+"$/)]);
  });

  test("every answer carries no-store and the browser hardening headers", async () => {
    const token = await api.writeToken();
    for (const [method, path] of [["GET", "/v1/keys"], ["GET", "/openapi.json"], ["GET", "/v1/nothing"], ["POST", "/v1/keys/rotate"]]) {
      const answer = await api.call(method!, path!, method === "POST" ? {} : { token });
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(answer.headers.get("x-frame-options")).toBe("DENY");
    }
  });
});
