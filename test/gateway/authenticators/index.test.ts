// The authenticator registry: an API's tokenCheck names the authenticator.
import { authenticatorFor, IntrospectionAuthenticator, JwtAuthenticator } from "../../../src/gateway/authenticators/index.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { OwnAccessTokens } from "../../../src/shared/own-access-tokens.ts";
import { RemoteKeySets } from "../../../src/shared/remote-key-sets.ts";
import { accessToken, apiRecord, ISSUER, rejection, signingKey, startServer } from "./helpers.ts";

describe("authenticatorFor", () => {
  test("tokenCheck picks the authenticator; introspection must be configured to be chosen", async () => {
    const key = await signingKey("ES256", "k");
    const ownKeys = { keys: [key.jwk] };
    const ownTokens = new OwnAccessTokens({ issuer: ISSUER, keys: () => ownKeys, revocations: { refuses: () => false } });
    const jwt = new JwtAuthenticator({ ownTokens, clockToleranceSeconds: 0, remoteKeySets: new RemoteKeySets({ cooldownSeconds: 30 }) });
    const closed = await startServer(() => undefined);
    await closed.close();
    const introspection = new IntrospectionAuthenticator({ endpoint: `${closed.url}/introspect`, clientId: "c", clientSecret: "s", cacheTtlSeconds: 60, timeoutMs: 100 });

    const api = apiRecord();
    const principal = await authenticatorFor(api, { jwt, introspection })(await accessToken(key), api);
    expect(principal.subject).toBe("user-1");
    expect(jwt.stats.verifications).toBe(1);

    const opaque = apiRecord({ tokenCheck: "introspection" });
    setLogLevel("silent");
    expect((await rejection(authenticatorFor(opaque, { jwt, introspection })("opaque", opaque))).reason).toBe("introspection_unavailable");
    setLogLevel("info");
    expect(introspection.stats.introspections).toBe(1);
    expect(() => authenticatorFor(opaque, { jwt, introspection: undefined })).toThrow(/checks tokens by introspection, which is not configured/);
  });
});
