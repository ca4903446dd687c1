// Clients: the list (search, pages), registration by application type, the client's page with its
// settings and ready-to-paste snippets, editing, the secret shown once (after registration and after a
// rotation), disabling, revoking its tokens and deleting it after a confirmation that names it.
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { GATEWAY_CLIENT_ID } from "../../gateway/internal-client.ts";
import type { ApiResource } from "../../services/apis.ts";
import { AUTH_METHODS, GRANT_TYPES, type ClientInput, type ClientResource, type ClientWithSecret } from "../../services/clients.ts";
import { corsOriginsOf } from "../../services/client-origins.ts";
import { DEVICE_CODE, GRANT_RULES, JWT_BEARER, SAML2_BEARER, TOKEN_EXCHANGE, type GrantType } from "../../services/grant-rules.ts";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import type { Services } from "../../services/index.ts";
import type { AdminState } from "../access.ts";
import { CONSOLE_CLIENT_ID } from "../built-in.ts";
import { checkbox, lines, optionalInteger, optionalJson, optionalText, picked, readFields, text } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";
import { scopeGroups } from "./scope-catalog.ts";

const PAGE_SIZE = 20;
/** Fields the client forms send as lists. */
const LISTS = ["grant_types", "scopes"];

/** What the console calls the kinds of application; each pre-fills the registration form. */
export const CLIENT_TYPES = {
  web: {
    label: "Web application",
    summary: "A server-side app that keeps a secret: sign-in with code + PKCE, refresh tokens.",
    icon: "browser",
    preset: { application_type: "web", public: false, grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "client_secret_basic", scopes: ["openid", "profile", "email"] },
  },
  spa: {
    label: "Single-page app",
    summary: "JavaScript in the browser: a public client, code + PKCE, no secret.",
    icon: "code",
    preset: { application_type: "web", public: true, grant_types: ["authorization_code"], token_endpoint_auth_method: "none", scopes: ["openid", "profile", "email"] },
  },
  native: {
    label: "Native or mobile app",
    summary: "Desktop and mobile apps: public, code + PKCE, loopback or app-scheme redirects.",
    icon: "phone",
    preset: { application_type: "native", public: true, grant_types: ["authorization_code"], token_endpoint_auth_method: "none", scopes: ["openid", "profile", "email"] },
  },
  m2m: {
    label: "Machine to machine",
    summary: "Services, jobs and CLIs calling APIs on their own behalf: client credentials.",
    icon: "cpu",
    preset: { application_type: "web", public: false, grant_types: ["client_credentials"], token_endpoint_auth_method: "client_secret_basic", scopes: [] },
  },
} as const;

export type ClientType = keyof typeof CLIENT_TYPES;

/** Which of the console's application types a registered client is. */
export function clientType(client: Pick<ClientResource, "application_type" | "public" | "grant_types">): ClientType {
  if (client.application_type === "native") return "native";
  if (client.public) return "spa";
  return client.grant_types.includes("authorization_code") ? "web" : "m2m";
}

/** How the console names each grant and what it says about it; legacy ones carry their rule's warning. */
const GRANT_TEXT: Record<GrantType, { label: string; help: string }> = {
  authorization_code: { label: "authorization_code", help: "sign users in (with PKCE)" },
  refresh_token: { label: "refresh_token", help: "stay signed in; needs a grant that ends with a user" },
  client_credentials: { label: "client_credentials", help: "tokens for the client itself" },
  password: { label: "password", help: "the app collects the user's password" },
  implicit: { label: "implicit", help: "tokens in the URL fragment" },
  [JWT_BEARER]: { label: "JWT bearer", help: "a signed JWT assertion from a trusted issuer (RFC 7523)" },
  [SAML2_BEARER]: { label: "SAML 2.0 bearer", help: "a SAML assertion from a trusted issuer (RFC 7522)" },
  [DEVICE_CODE]: { label: "device code", help: "a TV or CLI shows a code; the user approves in a browser (RFC 8628)" },
  [TOKEN_EXCHANGE]: { label: "token exchange", help: "trade a caller's token for one meant for another API (RFC 8693)" },
};

export const grants = {
  label: (grant: string) => GRANT_TEXT[grant as GrantType]?.label ?? grant,
  help: (grant: string) => GRANT_TEXT[grant as GrantType]?.help ?? "",
  legacy: (grant: string) => GRANT_RULES[grant as GrantType]?.legacy,
};

/** Clients Gatehouse itself registers and re-applies at every start. */
export const BUILT_IN_CLIENTS = new Set([CONSOLE_CLIENT_ID, GATEWAY_CLIENT_ID]);

/** The fields of the registration and edit forms: nothing else a browser sends is read. */
const clientForm = z.object({
  client_name: text,
  application_type: text,
  public: text.transform((v) => v === "true"),
  grant_types: picked,
  redirect_uris: lines,
  post_logout_redirect_uris: lines,
  allowed_origins: lines,
  dpop_bound_access_tokens: checkbox,
  token_exchange_targets: lines,
  scopes: picked,
  token_endpoint_auth_method: text,
  jwks: optionalJson,
  jwks_uri: optionalText,
  access_token_ttl: optionalInteger(1),
  id_token_ttl: optionalInteger(1),
  refresh_token_ttl: optionalInteger(1),
  refresh_token_reuse_grace: optionalInteger(0),
});
const registrationForm = clientForm.extend({ client_id: optionalText });
const FORM_FIELDS = [...Object.keys(registrationForm.shape)];

function clientInput(fields: z.infer<typeof clientForm>): ClientInput {
  const { public: isPublic, token_endpoint_auth_method: method, ...rest } = fields;
  return {
    ...rest,
    application_type: rest.application_type as ClientInput["application_type"],
    grant_types: rest.grant_types as ClientInput["grant_types"],
    public: isPublic,
    // A public client has nothing to authenticate with: the method select is hidden for it.
    token_endpoint_auth_method: (isPublic ? "none" : method || undefined) as ClientInput["token_endpoint_auth_method"],
    jwks: fields.jwks as ClientInput["jwks"],
  };
}

/** A client's settings as its edit form's values. */
function formValues(client: ClientResource): Record<string, string> {
  const ttl = (v: number | null) => (v === null ? "" : String(v));
  return {
    client_name: client.client_name,
    application_type: client.application_type,
    public: String(client.public),
    grant_types: client.grant_types.join("\n"),
    redirect_uris: client.redirect_uris.join("\n"),
    post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
    allowed_origins: client.allowed_origins.join("\n"),
    dpop_bound_access_tokens: client.dpop_bound_access_tokens ? "on" : "",
    token_exchange_targets: client.token_exchange_targets.join("\n"),
    scopes: client.scopes.join("\n"),
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    jwks: client.jwks ? JSON.stringify(client.jwks, null, 2) : "",
    jwks_uri: client.jwks_uri ?? "",
    access_token_ttl: ttl(client.access_token_ttl),
    id_token_ttl: ttl(client.id_token_ttl),
    refresh_token_ttl: ttl(client.refresh_token_ttl),
    refresh_token_reuse_grace: ttl(client.refresh_token_reuse_grace),
  };
}

function presetValues(type: ClientType): Record<string, string> {
  const { preset } = CLIENT_TYPES[type];
  return {
    type,
    application_type: preset.application_type,
    public: String(preset.public),
    grant_types: preset.grant_types.join("\n"),
    token_endpoint_auth_method: preset.token_endpoint_auth_method,
    scopes: preset.scopes.join("\n"),
  };
}

const isType = (value: unknown): value is ClientType => typeof value === "string" && Object.hasOwn(CLIENT_TYPES, value);

/** The API a client's token would be for: the first whose scopes the client may have. */
function firstApi(client: ClientResource, apis: ApiResource[]): { api: ApiResource; scopes: string[] } | undefined {
  for (const api of apis) {
    const scopes = client.scopes.filter((s) => api.scopes.includes(s));
    if (scopes.length) return { api, scopes };
  }
  return undefined;
}

export interface Snippet {
  id: string;
  label: string;
  /** The text to paste; empty for a note. */
  text: string;
  /** Instead of text to paste, a note the page words: "dpop", the client's token requests need a DPoP proof. */
  note?: "dpop";
}

/**
 * Ready-to-paste snippets for the client's page: discovery, a client-credentials token, an authorization
 * URL. A client whose tokens must be DPoP-bound gets a note instead of the token command: a token request
 * without a DPoP proof (RFC 9449), which curl cannot make, is refused.
 */
export function snippets(issuer: string, client: ClientResource, apis: ApiResource[]): Snippet[] {
  const target = firstApi(client, apis);
  const list: Snippet[] = [{ id: "snippet-discovery", label: "Discovery document", text: `${issuer}/.well-known/openid-configuration` }];
  if (client.dpop_bound_access_tokens) {
    list.push({ id: "snippet-dpop", label: "Token requests need DPoP", text: "", note: "dpop" });
  } else if (client.grant_types.includes("client_credentials")) {
    const auth =
      client.token_endpoint_auth_method === "client_secret_post" ? [`-d client_id=${client.client_id}`, `-d client_secret="$CLIENT_SECRET"`]
      : client.token_endpoint_auth_method === "private_key_jwt" ? ["-d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer", `-d client_assertion="$CLIENT_ASSERTION"`]
      : [];
    const head = auth.length ? `curl -s ${issuer}/token` : `curl -s -u "${client.client_id}:$CLIENT_SECRET" ${issuer}/token`;
    const params = ["-d grant_type=client_credentials", ...auth, ...(target ? [`-d scope="${target.scopes.join(" ")}"`, `-d resource=${target.api.identifier}`] : [])];
    list.push({ id: "snippet-token", label: "Client-credentials token (curl)", text: [head, ...params].join(" \\\n  ") });
  }
  if (client.grant_types.includes("authorization_code") && client.redirect_uris.length) {
    const scopes = ["openid", ...client.scopes.filter((s) => s !== "openid")];
    const query = [
      ["client_id", client.client_id],
      ["response_type", "code"],
      ["scope", scopes.join(" ")],
      ["redirect_uri", client.redirect_uris[0]!],
      ...(target ? [["resource", target.api.identifier]] : []),
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
      .join("&");
    list.push({ id: "snippet-authorize", label: "Authorization URL (code flow with PKCE)", text: `${issuer}/authorize?${query}&code_challenge=$CODE_CHALLENGE&code_challenge_method=S256&state=$STATE` });
  }
  return list;
}

async function formLocals(services: Services) {
  return { scopeGroups: await scopeGroups(services), grantTypes: GRANT_TYPES, grants, authMethods: AUTH_METHODS, types: CLIENT_TYPES };
}

export function clientPages(router: Router, kit: ConsoleKit): void {
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const clientHref = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;

  router.get("/clients", ...kit.view, async (ctx) => {
    const search = typeof ctx.query.search === "string" ? ctx.query.search.trim().slice(0, 200) : "";
    const offset = Math.max(0, Number.parseInt(String(ctx.query.offset ?? "0"), 10) || 0);
    const list = await stateOf(ctx).services.clients.list({ search: search || undefined, offset, limit: PAGE_SIZE });
    await show(page(ctx), kit.page, "clients", {
      title: "Clients",
      section: "clients",
      search,
      list,
      clientType,
      grants,
      types: CLIENT_TYPES,
      builtIn: BUILT_IN_CLIENTS,
      href: (at: number) => `/admin/clients?${new URLSearchParams({ ...(search ? { search } : {}), offset: String(at) })}`,
    });
  });

  async function showNew(ctx: Context, type: ClientType, form: FormState, status?: number) {
    await show(ctx, kit.page, "client-new", { title: "Register a client", section: "clients", type, form, ...(await formLocals(stateOf(ctx).services)) }, status);
  }

  router.get("/clients/new", ...kit.editor, async (ctx) => {
    const type = isType(ctx.query.type) ? ctx.query.type : "web";
    await showNew(page(ctx), type, new FormState(presetValues(type), [], FORM_FIELDS));
  });

  /** The page that shows a secret, once: never cached, never redirected to. */
  async function showSecret(ctx: Context, result: Required<ClientWithSecret>, event: "created" | "rotated", status = 200) {
    ctx.set("Cache-Control", "no-store");
    await show(ctx, kit.page, "client-secret", { title: "Client secret", section: "clients", client: result.client, secret: result.client_secret, event, clientType, types: CLIENT_TYPES }, status);
  }

  router.post("/clients", ...kit.change({ lists: LISTS }), async (ctx) => {
    const { services } = stateOf(ctx);
    const form = (ctx.state as { form: Record<string, string> }).form;
    const type = isType(form.type) ? form.type : "web";
    try {
      const fields = readFields(registrationForm, form);
      const { client_id: clientId, ...settings } = fields;
      const created = await services.clients.create({ ...clientInput(settings), ...(clientId ? { client_id: clientId } : {}) });
      if (created.client_secret) return showSecret(page(ctx), created as Required<ClientWithSecret>, "created", 201);
      redirectWithFlash(page(ctx), clientHref(created.client.client_id), `Client “${created.client.client_name}” registered.`);
    } catch (failure) {
      const issues =
        failure instanceof ValidationError ? failure.issues
        : failure instanceof ConflictError ? [{ field: "client_id", message: failure.message }]
        : undefined;
      if (!issues) throw failure;
      await showNew(page(ctx), type, new FormState({ ...form, type }, issues, FORM_FIELDS), 400);
    }
  });

  router.get("/clients/:id", ...kit.view, async (ctx) => {
    const { services } = stateOf(ctx);
    const client = await services.clients.get(ctx.params.id!);
    const [apis, activity, registered] = await Promise.all([services.apis.list(), services.audit.list({ entity_type: "client", entity_id: client.client_id, limit: 6 }), services.scopes.list()]);
    await show(page(ctx), kit.page, "client", {
      title: client.client_name,
      section: "clients",
      client,
      type: CLIENT_TYPES[clientType(client)],
      grants,
      builtIn: BUILT_IN_CLIENTS.has(client.client_id),
      snippets: snippets(kit.page.issuer, client, apis),
      corsOrigins: [...corsOriginsOf({ redirectUris: client.redirect_uris, allowedOrigins: client.allowed_origins })],
      apis,
      descriptions: new Map(registered.map((s) => [s.name, s.description])),
      activity: activity.items,
    });
  });

  async function showEdit(ctx: Context, client: ClientResource, form: FormState, status?: number) {
    await show(ctx, kit.page, "client-edit", { title: `Edit ${client.client_name}`, section: "clients", client, form, builtIn: BUILT_IN_CLIENTS.has(client.client_id), ...(await formLocals(stateOf(ctx).services)) }, status);
  }

  router.get("/clients/:id/edit", ...kit.editor, async (ctx) => {
    const client = await stateOf(ctx).services.clients.get(ctx.params.id!);
    await showEdit(page(ctx), client, new FormState(formValues(client), [], FORM_FIELDS));
  });

  router.post("/clients/:id", ...kit.change({ lists: LISTS }), async (ctx) => {
    const { services } = stateOf(ctx);
    const client = await services.clients.get(ctx.params.id!);
    const form = (ctx.state as { form: Record<string, string> }).form;
    try {
      const updated = await services.clients.update(client.client_id, clientInput(readFields(clientForm, form)));
      redirectWithFlash(page(ctx), clientHref(updated.client_id), `Client “${updated.client_name}” saved.`);
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await showEdit(page(ctx), client, new FormState(form, failure.issues, FORM_FIELDS), 400);
    }
  });

  for (const [action, enabled] of [["enable", true], ["disable", false]] as const) {
    router.post(`/clients/:id/${action}`, ...kit.change(), async (ctx) => {
      const updated = await stateOf(ctx).services.clients.update(ctx.params.id!, { enabled });
      const text = enabled ? `Client “${updated.client_name}” enabled: it can get tokens again.` : `Client “${updated.client_name}” disabled: its tokens were revoked and it gets no new ones.`;
      redirectWithFlash(page(ctx), clientHref(updated.client_id), text);
    });
  }

  router.post("/clients/:id/rotate-secret", ...kit.change(), async (ctx) => {
    const grace = readFields(z.object({ grace_seconds: optionalInteger(0) }), (ctx.state as { form: Record<string, string> }).form).grace_seconds ?? 0;
    const rotated = await stateOf(ctx).services.clients.rotateSecret(ctx.params.id!, { graceSeconds: grace });
    await showSecret(page(ctx), rotated, "rotated");
  });

  router.post("/clients/:id/revoke-tokens", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const ended = await services.clients.revokeTokens(ctx.params.id!);
    redirectWithFlash(page(ctx), clientHref(ctx.params.id!), `Every token of this client was revoked (${ended.artifacts} stored grants and tokens deleted; JWT access tokens issued until now are refused).`);
  });

  router.get("/clients/:id/delete", ...kit.editor, async (ctx) => {
    const client = await stateOf(ctx).services.clients.get(ctx.params.id!);
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete ${client.client_name}`,
      section: "clients",
      kind: "client",
      name: client.client_name,
      id: client.client_id,
      crumbs: [["Clients", "/admin/clients"], [client.client_name, clientHref(client.client_id)], ["Delete"]],
      consequences: ["Its consents, grants, refresh tokens and access tokens end at once.", "Apps using its client_id stop working; this cannot be undone."],
      action: `${clientHref(client.client_id)}/delete`,
      cancel: clientHref(client.client_id),
    });
  });

  router.post("/clients/:id/delete", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const client = await services.clients.get(ctx.params.id!);
    await services.clients.delete(client.client_id);
    redirectWithFlash(page(ctx), "/admin/clients", `Client “${client.client_name}” deleted.`);
  });
}
