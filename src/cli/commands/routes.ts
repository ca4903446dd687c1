// `gatehouse route ...`: the gateway routes of an API: which requests they match, the scopes those
// requests need and the backend they go to.
import { InvalidArgumentError, type Command } from "commander";
import { ROUTE_METHODS, type RouteInput } from "../../services/routes.ts";
import { nonNegativeInteger, positiveInteger, repeatableChoice } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";

/** Scopes per method ("GET", ...) or "*" for every method the route matches. */
type MethodScopes = Record<string, string[]>;

interface AddOptions {
  api: string;
  path: string;
  upstream: string;
  host?: string;
  method?: RouteInput["methods"];
  rewrite?: string;
  scope?: MethodScopes;
  anyScope?: MethodScopes;
  public?: boolean;
  timeout?: number;
  maxBody?: number;
}

const METHOD_PREFIX = /^([A-Za-z]+|\*)=(.*)$/s;

/** `--scope "GET=a b"` for one method, `--scope "*=a b"` or `--scope "a b"` for the default rule; repeatable. */
function methodScopes(value: string, previous: MethodScopes = {}): MethodScopes {
  const prefixed = METHOD_PREFIX.exec(value);
  const method = prefixed?.[1]!.toUpperCase();
  // WORD= is always read as a method, so a typo (GTE=) is refused instead of becoming a scope named "GTE=...".
  if (method !== undefined && method !== "*" && !(ROUTE_METHODS as readonly string[]).includes(method)) {
    throw new InvalidArgumentError(`Unknown method ${prefixed![1]}: one of ${ROUTE_METHODS.join(", ")}, or * for the default rule.`);
  }
  const key = method ?? "*";
  const scopes = (prefixed ? prefixed[2]! : value).split(/\s+/).filter(Boolean);
  if (!scopes.length) throw new InvalidArgumentError("Expected scopes, space-separated, optionally after METHOD=.");
  return { ...previous, [key]: [...(previous[key] ?? []), ...scopes] };
}

function requirements(allOf: MethodScopes = {}, anyOf: MethodScopes = {}): RouteInput["scopes"] {
  const methods = [...new Set([...Object.keys(allOf), ...Object.keys(anyOf)])];
  return Object.fromEntries(methods.map((m) => [m, { all_of: allOf[m] ?? [], any_of: anyOf[m] ?? [] }]));
}

const SCOPES_NOTE = `
--scope "POST=orders:write" requires orders:write of POST requests (HEAD requests take GET's rule).
--scope "*=orders:read" (or just --scope "orders:read") is the default rule, for every method without a
rule of its own. Once a route has a rule for some method, a method with neither its own rule nor a default
one is refused with 405 (OPTIONS too, unless it has a rule). --any-scope takes the same forms and requires
at least one of its scopes.`;

export function routeCommands(program: Command): void {
  const routes = program.command("route").description("manage the gateway routes of APIs");

  routes
    .command("add")
    .description("route requests under a path prefix to a backend")
    .requiredOption("--api <identifier>", "the API the route belongs to")
    .requiredOption("--path <prefix>", "path prefix matched on segment boundaries, e.g. /orders")
    .requiredOption("--upstream <url>", "the backend's base URL (http or https)")
    .option("--host <host>", "match only requests for this Host (without port)")
    .option("--method <method>", `match only this method, repeatable (${ROUTE_METHODS.join(", ")}); default any`, repeatableChoice(ROUTE_METHODS))
    .option("--rewrite <rewrite>", 'what the backend sees of the path: "strip" the prefix (default), "keep" it, or a /path replacing it')
    .option("--scope <[METHOD=|*=]scopes>", "scopes a request needs all of, space-separated, for one method or by default; repeatable", methodScopes)
    .option("--any-scope <[METHOD=|*=]scopes>", "scopes a request needs one of, space-separated, for one method or by default; repeatable", methodScopes)
    .option("--public", "requests need no access token")
    .option("--timeout <ms>", "how long the backend may take to answer (default 30000)", positiveInteger)
    .option("--max-body <bytes>", "largest request body accepted (default 1048576)", nonNegativeInteger)
    .addHelpText("after", SCOPES_NOTE)
    .action((options: AddOptions, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.routes.create(options.api, {
          path_prefix: options.path,
          host: options.host ?? null,
          methods: options.method,
          upstream: options.upstream,
          rewrite: options.rewrite,
          scopes: requirements(options.scope, options.anyScope),
          public: options.public,
          timeout_ms: options.timeout,
          max_body_bytes: options.maxBody,
        });
        return { data, text: () => fields(data) };
      }),
    );

  routes
    .command("list")
    .description("list routes")
    .option("--api <identifier>", "only the routes of this API")
    .action((options: { api?: string }, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.routes.list(options.api);
        const rows = data.map((route) => ({ ...route, policies: Object.keys(route.policies) }));
        return { data, text: () => table(rows, ["id", "api", "host", "path_prefix", "methods", "upstream", "public", "policies"]) };
      }),
    );

  routes
    .command("delete <id>")
    .description("delete a route")
    .action((id: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.routes.delete(id);
        return { data: { deleted: id }, text: () => `route ${id} deleted` };
      }),
    );
}
