// `gatehouse client ...`: register and manage OAuth clients.
import fs from "node:fs/promises";
import { Option, type Command } from "commander";
import { AUTH_METHODS, GRANT_TYPES, type ClientInput, type ClientResource } from "../../services/clients.ts";
import { ValidationError } from "../../services/errors.ts";
import { nonNegativeInteger, positiveInteger, repeatable, repeatableChoice, scopeList } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { listAll, run } from "../run.ts";

interface SettingOptions {
  name?: string;
  grant?: ClientInput["grant_types"];
  redirectUri?: string[];
  postLogoutRedirectUri?: string[];
  scope?: string[];
  public?: boolean;
  native?: boolean;
  authMethod?: ClientInput["token_endpoint_auth_method"];
  jwksFile?: string;
  jwksUri?: string;
  clientId?: string;
  accessTokenTtl?: number;
  refreshTokenReuseGrace?: number;
  allowedOrigin?: string[];
  clearAllowedOrigins?: boolean;
  dpopBound?: boolean;
  tokenExchangeTarget?: string[];
  clearTokenExchangeTargets?: boolean;
}

async function readJwks(file: string): Promise<ClientInput["jwks"]> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new ValidationError(`--jwks-file ${file}: ${(error as Error).message}`);
  }
}

/** The settings the options give, and only those (update keeps every field not given). */
async function toInput(options: SettingOptions): Promise<Partial<ClientInput>> {
  const input: Partial<ClientInput> = {
    client_name: options.name,
    client_id: options.clientId,
    application_type: options.native ? "native" : undefined,
    public: options.public,
    grant_types: options.grant,
    redirect_uris: options.redirectUri,
    post_logout_redirect_uris: options.postLogoutRedirectUri,
    scopes: options.scope,
    token_endpoint_auth_method: options.authMethod,
    jwks: options.jwksFile ? await readJwks(options.jwksFile) : undefined,
    jwks_uri: options.jwksUri,
    access_token_ttl: options.accessTokenTtl,
    refresh_token_reuse_grace: options.refreshTokenReuseGrace,
    allowed_origins: options.clearAllowedOrigins ? [] : options.allowedOrigin,
    dpop_bound_access_tokens: options.dpopBound,
    token_exchange_targets: options.clearTokenExchangeTargets ? [] : options.tokenExchangeTarget,
  };
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
}

/** The options create and update share: every setting but the name and the id. */
function settingOptions(command: Command): Command {
  return command
    .option("--grant <type>", `grant type, repeatable (${GRANT_TYPES.join(", ")})`, repeatableChoice(GRANT_TYPES))
    .option("--redirect-uri <uri>", "redirect URI, repeatable", repeatable)
    .option("--post-logout-redirect-uri <uri>", "post-logout redirect URI, repeatable", repeatable)
    .option("--scope <scopes>", "allowed scopes, space-separated, repeatable", scopeList)
    .option("--public", "a public client (no secret, e.g. a single-page app)")
    .option("--native", "a native app (RFC 8252): public, private-use scheme or loopback redirect URIs, any loopback port")
    .addOption(new Option("--auth-method <method>", "token endpoint authentication method").choices(AUTH_METHODS))
    .option("--jwks-file <file>", "JSON Web Key Set file for private_key_jwt")
    .option("--jwks-uri <uri>", "JSON Web Key Set URL for private_key_jwt")
    .option("--access-token-ttl <seconds>", "access token lifetime", positiveInteger)
    .option("--refresh-token-reuse-grace <seconds>", "how long a just-rotated refresh token may be presented once more (default REFRESH_TOKEN_REUSE_GRACE)", nonNegativeInteger)
    .option(
      "--allowed-origin <origin>",
      "origin (https://app.example.com) whose pages may call the token, userinfo, revocation and introspection endpoints as this client (CORS), besides its redirect URIs' origins; repeatable",
      repeatable,
    )
    .option("--dpop-bound", "every access token of this client is DPoP-bound (RFC 9449): token requests without a DPoP proof are refused")
    .option("--no-dpop-bound", "access tokens may be plain bearer tokens (the default)")
    .option(
      "--token-exchange-target <api>",
      `identifier of an API this client may exchange tokens for (RFC 8693, with --grant urn:ietf:params:oauth:grant-type:token-exchange); repeatable`,
      repeatable,
    );
}

/** The client with its secret first after its id, as the one line to copy. */
function withSecret(client: ClientResource, secret: string | undefined) {
  const { client_id, ...rest } = client;
  return { client_id, ...(secret ? { client_secret: secret } : {}), ...rest };
}

const SECRET_NOTE = "\n\nThe client secret is shown only now: store it safely.";

export function clientCommands(program: Command): void {
  const clients = program.command("client").description("register and manage OAuth clients");

  settingOptions(
    clients
      .command("create")
      .description("register a client; a confidential client's secret is printed once")
      .requiredOption("--name <name>", "display name")
      .option("--client-id <id>", "client_id to use instead of a generated one"),
  ).action((options: SettingOptions & { name: string }, command: Command) =>
    run(command, async ({ services }) => {
      const { client, client_secret } = await services.clients.create({ ...(await toInput(options)), client_name: options.name });
      const data = withSecret(client, client_secret);
      return { data, text: () => fields(data) + (client_secret ? SECRET_NOTE : "") };
    }),
  );

  settingOptions(
    clients
      .command("update <client_id>")
      .description("change the settings given (a list given replaces the client's list), keeping the others")
      .option("--name <name>", "display name")
      .option("--clear-allowed-origins", "remove every allowed origin (the redirect URIs' origins stay allowed)")
      .option("--clear-token-exchange-targets", "remove every token exchange target"),
  ).action((clientId: string, options: SettingOptions, command: Command) =>
    run(command, async ({ services }) => {
      if (options.clearAllowedOrigins && options.allowedOrigin) throw new ValidationError("--clear-allowed-origins and --allowed-origin cannot be used together");
      if (options.clearTokenExchangeTargets && options.tokenExchangeTarget) {
        throw new ValidationError("--clear-token-exchange-targets and --token-exchange-target cannot be used together");
      }
      const data = await services.clients.update(clientId, await toInput(options));
      return { data, text: () => fields(data) };
    }),
  );

  clients
    .command("list")
    .description("list clients")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await listAll((query) => services.clients.list(query));
        return { data, text: () => table(data, ["client_id", "client_name", "public", "grant_types", "enabled"]) };
      }),
    );

  clients
    .command("show <client_id>")
    .description("show a client's settings")
    .action((clientId: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.clients.get(clientId);
        return { data, text: () => fields(data) };
      }),
    );

  clients
    .command("rotate-secret <client_id>")
    .description("replace a client's secret; the new one is printed once and the old one stops working (after --grace)")
    .option("--grace <seconds>", "keep the old secret working this long beside the new one (default 0)", nonNegativeInteger)
    .action((clientId: string, options: { grace?: number }, command: Command) =>
      run(command, async ({ services }) => {
        const { client, client_secret } = await services.clients.rotateSecret(clientId, { graceSeconds: options.grace ?? 0 });
        const data = { client_id: clientId, client_secret, previous_secret_expires_at: client.previous_secret_expires_at };
        return { data, text: () => fields(data) + SECRET_NOTE };
      }),
    );

  for (const [name, enabled] of [["enable", true], ["disable", false]] as const) {
    clients
      .command(`${name} <client_id>`)
      .description(enabled ? "allow a disabled client again" : "stop a client from obtaining tokens and end those it holds, keeping its settings")
      .action((clientId: string, _options, command: Command) =>
        run(command, async ({ services }) => {
          const data = await services.clients.update(clientId, { enabled });
          return { data, text: () => `client ${clientId} ${name}d` };
        }),
      );
  }

  clients
    .command("revoke-tokens <client_id>")
    .description("end every grant, code and token the client holds, keeping the client")
    .action((clientId: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const ended = await services.clients.revokeTokens(clientId);
        const data = { client_id: clientId, artifacts_revoked: ended.artifacts, not_before: ended.notBefore.toISOString() };
        return { data, text: () => `ended ${ended.artifacts} grants and tokens of ${clientId}; JWT access tokens issued before ${data.not_before} are refused` };
      }),
    );

  clients
    .command("delete <client_id>")
    .description("delete a client, the consents given to it and everything it was issued")
    .action((clientId: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.clients.delete(clientId);
        return { data: { deleted: clientId }, text: () => `client ${clientId} deleted` };
      }),
    );
}
