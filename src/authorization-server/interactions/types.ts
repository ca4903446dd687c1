// What every interaction step shares: its dependencies and the per-request state earlier steps fill in.
import type { RouterMiddleware } from "@koa/router";
import type Provider from "oidc-provider";
import type { Interaction } from "oidc-provider";
import type { Config } from "../../config/env.ts";
import type { Actor, Services } from "../../services/index.ts";
import type { Storage } from "../../storage/index.ts";
import type { Catalog } from "../catalog.ts";
import type { PasswordCredentials } from "../credentials/password-check.ts";

export interface InteractionDeps {
  provider: Provider;
  storage: Storage;
  catalog: Catalog;
  config: Config;
  /** Password checks, throttled; shared with the password grant. */
  credentials: PasswordCredentials;
  /** Services recording their changes under the given actor (a user changing their own password). */
  servicesAs: (actor: Actor) => Services;
}

import type { FormFields } from "../../web/form.ts";

/** What the error pages of an interaction suggest. */
export const START_AGAIN = "Go back to the application and sign in again.";

export interface InteractionState {
  /** Set by loadInteraction. */
  interaction: Interaction;
  /** Set by readForm (POST routes only). */
  form: FormFields;
}

export type Step = RouterMiddleware<InteractionState>;
