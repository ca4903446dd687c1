// `gatehouse api ...`: resource servers (audiences) tokens are issued for, and how the gateway protects them.
import { Option, type Command } from "commander";
import { specOfApi, type ApiSpec, type ApiView } from "../../services/apis.ts";
import { ValidationError } from "../../services/errors.ts";
import { collected, pair, positiveInteger, scopeList } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";
import { apiJson } from "../views.ts";

type TrustedIssuer = { issuer: string; jwksUri: string };
type Outbound = NonNullable<ApiSpec["outboundOAuth"]>;

/** An option's value: false (its `--no-` form) gives `none`, not given keeps `kept`. */
const pick = <T>(value: T | false | undefined, kept: T, none: T): T => (value === false ? none : (value ?? kept));

/** The options of `api create` and `api update`; false is the `--no-` form of an option ("none"). */
interface ApiOptions {
  identifier?: string;
  name?: string;
  format?: "jwt" | "opaque";
  ttl?: number;
  scope?: string[];
  tokenCheck?: "jwt" | "introspection";
  trustIssuer?: TrustedIssuer[] | false;
  allowQueryToken?: boolean;
  claimHeader?: Record<string, string> | false;
  forwardToken?: "none" | "original" | "signed";
  outboundOauth?: boolean;
  outboundTokenUrl?: string;
  outboundClientId?: string;
  outboundClientSecret?: string;
  outboundClientSecretStdin?: boolean;
  outboundAuth?: "basic" | "body";
  outboundScope?: string | false;
  outboundResource?: string | false;
  outboundHeader?: string;
  outboundRemoveHeader?: string[] | false;
  introspectionClient?: string[] | false;
}

function trustedIssuer(value: string, previous?: TrustedIssuer[] | false): TrustedIssuer[] {
  const [issuer, jwksUri] = pair(value, "ISSUER=JWKS_URI");
  return [...collected(previous, []), { issuer, jwksUri }];
}

function claimHeader(value: string, previous?: Record<string, string> | false): Record<string, string> {
  const [claim, header] = pair(value, "CLAIM=HEADER");
  return { ...collected(previous, {}), [claim]: header };
}

/** A repeatable option's values in order (header names, client ids). */
function headerList(value: string, previous?: string[] | false): string[] {
  return [...collected(previous, []), value];
}

const REFERENCES_NOTE = `
Every --outbound-* value may contain \${NAME} references (quote them from the shell: '\${IDP_SECRET}'). They
are stored as written and the gateway resolves them from its own environment at request time. The outbound
client secret is stored encrypted and never shown back.`;

/** The gateway settings both `api create` and `api update` take; update also takes their `--no-` forms. */
function withGatewayOptions(command: Command, update: boolean): Command {
  command
    .addOption(new Option("--token-check <check>", "how the gateway checks access tokens").choices(["jwt", "introspection"]))
    .option("--trust-issuer <issuer=jwks_uri>", "also accept JWT access tokens of this issuer, checked with its keys (RS256/ES256); repeatable", trustedIssuer)
    .option("--allow-query-token", "accept access_token in the query string or form body (RFC 6750 2.2, 2.3)")
    .option("--claim-header <claim=header>", "forward a token claim to the backend as a header; repeatable", claimHeader)
    .addOption(new Option("--forward-token <token>", "the token the backend receives").choices(["none", "original", "signed"]))
    .option("--outbound-token-url <url>", "token endpoint of the backend's identity provider (client credentials)")
    .option("--outbound-client-id <id>", "client_id at that identity provider")
    .option("--outbound-client-secret <secret>", "its client secret (visible to other local users; prefer --outbound-client-secret-stdin)")
    .option("--outbound-client-secret-stdin", "read the outbound client secret from standard input")
    .addOption(new Option("--outbound-auth <method>", "how the client authenticates at the token endpoint").choices(["basic", "body"]))
    .option("--outbound-scope <scope>", "scope to request, space-separated")
    .option("--outbound-resource <uri>", "resource indicator to request (RFC 8707)")
    .option("--outbound-header <name>", "header the outbound token is sent in (default Authorization)")
    .option("--outbound-remove-header <name>", "header removed from requests to the backend; repeatable", headerList)
    .option("--introspection-client <client_id>", "a client acting as this API's resource server, allowed to introspect its tokens; repeatable", headerList);
  if (update) {
    command
      .option("--no-allow-query-token", "accept access tokens only in the Authorization header")
      .option("--no-trust-issuer", "remove every trusted issuer")
      .option("--no-claim-header", "forward no claims as headers")
      .option("--no-outbound-oauth", "remove the outbound OAuth settings")
      .option("--no-outbound-scope", "request no scope")
      .option("--no-outbound-resource", "request no resource")
      .option("--no-outbound-remove-header", "remove no headers")
      .option("--no-introspection-client", "no client but each token's own and the gateway may introspect");
  }
  return command.addHelpText("after", REFERENCES_NOTE);
}

const OUTBOUND_OPTIONS = [
  "outboundTokenUrl",
  "outboundClientId",
  "outboundClientSecret",
  "outboundClientSecretStdin",
  "outboundAuth",
  "outboundScope",
  "outboundResource",
  "outboundHeader",
  "outboundRemoveHeader",
] as const;

async function outboundSecret(options: ApiOptions): Promise<string | undefined> {
  if (options.outboundClientSecret !== undefined && options.outboundClientSecretStdin) {
    throw new ValidationError("give --outbound-client-secret or --outbound-client-secret-stdin, not both");
  }
  return options.outboundClientSecretStdin ? (await readStdin()).replace(/\r?\n$/, "") : options.outboundClientSecret;
}

/** The outbound settings: the current ones with the options given laid over them. No secret keeps the stored one. */
async function outbound(current: Outbound | null, options: ApiOptions): Promise<Outbound | null> {
  const given = OUTBOUND_OPTIONS.filter((name) => options[name] !== undefined);
  if (options.outboundOauth === false) {
    if (given.length) throw new ValidationError("give --no-outbound-oauth or --outbound-* options, not both");
    return null;
  }
  if (!given.length) return current;
  if (!current) {
    const required: Record<string, unknown> = {
      "--outbound-token-url": options.outboundTokenUrl,
      "--outbound-client-id": options.outboundClientId,
      "--outbound-client-secret": options.outboundClientSecret ?? options.outboundClientSecretStdin,
    };
    const missing = Object.keys(required).filter((flag) => required[flag] === undefined);
    if (missing.length) throw new ValidationError(`outbound_oauth: ${missing.join(", ")} required with the other --outbound-* options`);
  }
  return {
    tokenUrl: options.outboundTokenUrl ?? current!.tokenUrl,
    clientId: options.outboundClientId ?? current!.clientId,
    clientSecret: await outboundSecret(options),
    authMethod: options.outboundAuth ?? current?.authMethod,
    scope: pick(options.outboundScope, current?.scope ?? null, null),
    resource: pick(options.outboundResource, current?.resource ?? null, null),
    header: options.outboundHeader ?? current?.header,
    removeHeaders: pick(options.outboundRemoveHeader, current?.removeHeaders ?? [], []),
  };
}

/** `current` with the options given laid over it; a repeatable option given replaces the whole list. */
async function withOptions(current: ApiSpec, options: ApiOptions): Promise<ApiSpec> {
  return {
    identifier: current.identifier,
    name: options.name ?? current.name,
    tokenFormat: options.format ?? current.tokenFormat,
    accessTokenTtl: options.ttl ?? current.accessTokenTtl,
    scopes: options.scope ?? current.scopes,
    tokenCheck: options.tokenCheck ?? current.tokenCheck,
    trustedIssuers: pick(options.trustIssuer, current.trustedIssuers, []),
    allowQueryToken: options.allowQueryToken ?? current.allowQueryToken,
    claimHeaders: pick(options.claimHeader, current.claimHeaders, {}),
    forwardToken: options.forwardToken ?? current.forwardToken,
    outboundOAuth: await outbound(current.outboundOAuth ?? null, options),
    introspectionClients: pick(options.introspectionClient, current.introspectionClients ?? [], []),
  };
}

function shown(view: ApiView) {
  const data = apiJson(view);
  return { data, text: () => fields(data) };
}

export function apiCommands(program: Command): void {
  const apis = program.command("api").description("manage APIs (resource servers) and how the gateway protects them");

  withGatewayOptions(
    apis
      .command("create")
      .description("register an API")
      .requiredOption("--identifier <uri>", "the API's identifier, used as the token audience (https URL or URN)")
      .requiredOption("--name <name>", "display name")
      .addOption(new Option("--format <format>", "access token format").choices(["jwt", "opaque"]))
      .option("--ttl <seconds>", "access token lifetime", positiveInteger)
      .option("--scope <scopes>", "scopes the API defines, space-separated, repeatable", scopeList),
    false,
  ).action((options: ApiOptions & { identifier: string; name: string }, command: Command) =>
    run(command, async ({ services }) => {
      if ((await services.apis.list()).some((a) => a.identifier === options.identifier)) {
        throw new ValidationError(`api ${options.identifier} already exists`);
      }
      const { api } = await services.apis.upsert(await withOptions({ identifier: options.identifier, name: options.name }, options));
      return shown(api);
    }),
  );

  withGatewayOptions(
    apis
      .command("update <identifier>")
      .description("change an API's settings; options not given keep their values")
      .option("--name <name>", "display name")
      .addOption(new Option("--format <format>", "access token format").choices(["jwt", "opaque"]))
      .option("--ttl <seconds>", "access token lifetime", positiveInteger)
      .option("--scope <scopes>", "scopes the API defines, space-separated, repeatable", scopeList)
      .addHelpText("after", "\nA repeatable option replaces the stored list; its --no- form empties it."),
    true,
  ).action((identifier: string, options: ApiOptions, command: Command) =>
    run(command, async ({ services }) => {
      const current = specOfApi(await services.apis.get(identifier));
      const { api } = await services.apis.upsert(await withOptions(current, options));
      return shown(api);
    }),
  );

  apis
    .command("show <identifier>")
    .description("show an API's settings (never the outbound client secret)")
    .action((identifier: string, _options, command: Command) => run(command, async ({ services }) => shown(await services.apis.get(identifier))));

  apis
    .command("list")
    .description("list APIs")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = (await services.apis.list()).map(apiJson);
        return { data, text: () => table(data, ["identifier", "name", "token_format", "access_token_ttl", "scopes", "token_check"]) };
      }),
    );

  apis
    .command("delete <identifier>")
    .description("delete an API and its routes")
    .action((identifier: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.apis.delete(identifier);
        return { data: { deleted: identifier }, text: () => `api ${identifier} deleted` };
      }),
    );
}
