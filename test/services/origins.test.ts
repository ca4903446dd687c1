// One origin check for a client's allowed_origins and the gateway cors policy's origins: a wildcard in
// the host is refused in both, naming the field, since no browser sends one.
import { allowedOriginProblem } from "../../src/services/client-origins.ts";
import { originProblem } from "../../src/services/origins.ts";
import { corsSchema } from "../../src/services/policies.ts";

function corsProblem(origin: string): string | undefined {
  const result = corsSchema.safeParse({ origins: [origin] });
  return result.success ? undefined : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
}

describe("origins", () => {
  test.each(["https://*.example.com", "https://*", "http://app.*.example.com:8080", "https://*example.com"])("%s is refused by the cors policy and by allowed_origins, naming the field", (origin) => {
    expect(corsProblem(origin)).toMatch(/^origins\.0: .*origins takes no wildcard in the host/);
    expect(allowedOriginProblem(origin)).toMatch(/allowed_origins takes no wildcard in the host/);
  });

  test("the cors policy and allowed_origins agree on the form of an origin (the cors policy also takes * alone, and plain http anywhere)", () => {
    for (const origin of ["https://app.example.com", "https://app.example.com:8443", "http://localhost:5173", "https://App.example.com", "https://app.example.com/", "https://u@app.example.com", "null"]) {
      expect([origin, corsProblem(origin) === undefined]).toEqual([origin, originProblem(origin, "origins") === undefined]);
      expect([origin, allowedOriginProblem(origin) === undefined]).toEqual([origin, originProblem(origin, "allowed_origins") === undefined]);
    }
    expect(corsProblem("*")).toBeUndefined();
    expect(corsProblem("http://app.example.com")).toBeUndefined();
    expect(allowedOriginProblem("http://app.example.com")).toContain("must use https");
  });
});
