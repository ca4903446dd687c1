// Device authorization (RFC 8628): for a device that has no browser or no keyboard (a TV, a CLI on a
// server). The device asks Gatehouse for a code, shows it with an address, and polls the token endpoint
// while the person opens the address on their phone or computer, enters the code, signs in and consents.
// The client is public (nothing on a device keeps a secret); refresh_token comes along with offline_access.
import * as oidc from "openid-client";
import { DEVICE_CODE } from "../services/grant-rules.ts";
import { sampleApi, sampleClient, untilPropagated } from "./register.ts";
import { reason, SampleError, type Flow } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

/** The refusals a device can get while polling, in words for the person running the sample. */
function pollFailure(error: unknown, timeoutSeconds: number): SampleError {
  const code = (error as { error?: unknown }).error;
  if (code === "access_denied") return new SampleError("the sign-in was cancelled in the browser (access_denied): nothing was issued");
  if (code === "expired_token") return new SampleError("the code expired before the sign-in finished (expired_token): run the sample again for a new one");
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return new SampleError(`no sign-in within ${timeoutSeconds} seconds (--timeout)`);
  }
  return new SampleError(`polling failed: ${reason(error)}`);
}

export const deviceFlow: Flow = {
  name: "device",
  grant: DEVICE_CODE,
  description: "a device without a browser shows a code; you enter it on Gatehouse's page in any browser while the device polls",
  interactive: true,
  async run(context) {
    const api = await sampleApi(context);
    const scopes = ["openid", "profile", "email", "offline_access", ...api.scopes];
    const client = await sampleClient(context, "device", { public: true, grant_types: [DEVICE_CODE, "refresh_token"], scopes });
    // A public client has nothing to probe the server with first: its first request waits for the registration.
    const started = await untilPropagated<oidc.DeviceAuthorizationResponse>(
      context,
      async () => {
        try {
          return { value: await oidc.initiateDeviceAuthorization(client.config, { scope: scopes.join(" "), resource: api.identifier }) };
        } catch (error) {
          if ((error as { error?: unknown }).error === "invalid_client") return { why: reason(error) };
          throw new SampleError(`the device authorization request failed: ${reason(error)}`);
        }
      },
      `Gatehouse at ${context.issuer} has not picked up client ${client.clientId}`,
    );
    context.say(`open ${started.verification_uri_complete ?? started.verification_uri} in a browser`);
    context.say(`or go to ${started.verification_uri} and enter the code`);
    context.say("");
    context.say(`    ${started.user_code}`);
    context.say("");
    const wait = Math.min(context.options.timeoutSeconds, started.expires_in);
    context.say(`waiting for the sign-in: polling every ${started.interval ?? 5} seconds, for up to ${wait} seconds`);
    let tokens: Awaited<ReturnType<typeof oidc.pollDeviceAuthorizationGrant>>;
    try {
      tokens = await oidc.pollDeviceAuthorizationGrant(client.config, started, { resource: api.identifier }, { signal: AbortSignal.timeout(wait * 1000) });
    } catch (error) {
      throw pollFailure(error, wait);
    }
    context.say("signed in");
    return {
      client_id: client.clientId,
      api: api.identifier,
      user_code: started.user_code,
      verification_uri: started.verification_uri,
      tokens: describeTokens(tokens),
    };
  },
};
