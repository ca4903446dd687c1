// `gatehouse api ...`: resource servers (audiences) tokens are issued for, and how the gateway protects them.
import { Option, type Command } from "commander";
import type { ApiChanges, ApiInput, ApiResource } from "../../services/apis.ts";
import { ValidationError } from "../../services/errors.ts";
import { collected, pair, positiveInteger, scopeList } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";

type TrustedIssuer = { issuer: string; jwks_uri: string };
type Outbound = NonNullable<ApiInput["outbound_oauth"]>;

/** An option's value: false (its `--no-` form) gives `none`, not given leaves the field out. */
const given = <T>(value: T | false | undefined, none: T): T | undefined => (value === false ? none : value);

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
  const [issuer, jwks_uri] = pair(value, "ISSUER=JWKS_URI");
  return [...collected(previous, []), { issuer, jwks_uri }];
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

/**
 * The outbound settings the options give: null for --no-outbound-oauth, the given fields otherwise (the
 * service lays them over the stored ones), or undefined when none is given.
 */
async function outbound(current: ApiResource["policies"]["outbound_oauth"], options: ApiOptions): Promise<Partial<Outbound> | null | undefined> {
  const named = OUTBOUND_OPTIONS.filter((name) => options[name] !== undefined);
  if (options.outboundOauth === false) {
    if (named.length) throw new ValidationError("give --no-outbound-oauth or --outbound-* options, not both");
    return null;
  }
  if (!named.length) return undefined;
  if (!current) {
    const required: Record<string, unknown> = {
      "--outbound-token-url": options.outboundTokenUrl,
      "--outbound-client-id": options.outboundClientId,
      "--outbound-client-secret": options.outboundClientSecret ?? options.outboundClientSecretStdin,
    };
    const missing = Object.keys(required).filter((flag) => required[flag] === undefined);
    if (missing.length) throw new ValidationError([{ field: "outbound_oauth", message: `${missing.join(", ")} required with the other --outbound-* options` }]);
  }
  const fieldsGiven: Partial<Outbound> = {
    token_url: options.outboundTokenUrl,
    client_id: options.outboundClientId,
    client_secret: await outboundSecret(options),
    auth_method: options.outboundAuth,
    scope: given(options.outboundScope, null),
    resource: given(options.outboundResource, null),
    header: options.outboundHeader,
    remove_headers: given(options.outboundRemoveHeader, []),
  };
  return Object.fromEntries(Object.entries(fieldsGiven).filter(([, v]) => v !== undefined));
}

/** The fields the options give; a repeatable option given replaces the whole list. */
async function changesOf(options: ApiOptions, current: ApiResource | null): Promise<ApiChanges> {
  const changes: ApiChanges = {
    name: options.name,
    token_format: options.format,
    access_token_ttl: options.ttl,
    scopes: options.scope,
    token_check: options.tokenCheck,
    trusted_issuers: given(options.trustIssuer, []),
    allow_query_token: options.allowQueryToken,
    claim_headers: given(options.claimHeader, {}),
    forward_token: options.forwardToken,
    outbound_oauth: (await outbound(current?.policies.outbound_oauth, options)) as Outbound | null | undefined,
    introspection_clients: given(options.introspectionClient, []),
  };
  return Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
}

function shown(data: ApiResource) {
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
    run(command, async ({ services }) => shown(await services.apis.create({ ...((await changesOf(options, null)) as Omit<ApiInput, "identifier" | "name">), identifier: options.identifier, name: options.name }))),
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
    run(command, async ({ services }) => shown(await services.apis.update(identifier, await changesOf(options, await services.apis.get(identifier))))),
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
        const data = await services.apis.list();
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
