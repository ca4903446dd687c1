// Which origins a client may list in allowed_origins, and which origins its pages get CORS from (units).
import { allowedOriginProblem, corsOriginsOf } from "../../src/services/client-origins.ts";

describe("allowed origins", () => {
  test.each(["https://app.example.com", "https://app.example.com:8443", "http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"])("%s can be listed", (origin) => {
    expect(allowedOriginProblem(origin)).toBeUndefined();
  });

  test.each([
    ["https://app.example.com/", "with no path (here https://app.example.com)"],
    ["https://app.example.com/app", "with no path (here https://app.example.com)"],
    ["https://App.Example.com", "with no path (here https://app.example.com)"],
    ["https://app.example.com:443", "with no path (here https://app.example.com)"],
    ["https://user@app.example.com", "with no path"],
    ["*", "with no path"],
    ["https://*.example.com", "with no path"],
    ["null", "with no path"],
    ["com.example.app:", "with no path"],
    ["http://app.example.com", "must use https"],
  ])("%s is refused: %s", (origin, reason) => {
    expect(allowedOriginProblem(origin)).toContain(reason);
  });

  test("a client's CORS origins: its http(s) redirect URIs' origins and its allowed origins, once each", () => {
    const origins = corsOriginsOf({
      redirectUris: ["https://spa.example.com/callback", "https://spa.example.com/silent", "com.example.app:/cb", "http://127.0.0.1:8000/cb"],
      allowedOrigins: ["https://admin.example.com"],
    });
    expect([...origins].sort()).toEqual(["http://127.0.0.1:8000", "https://admin.example.com", "https://spa.example.com"]);
  });
});
