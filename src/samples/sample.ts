// What every sample shares: the context it runs in (the CLI's services on the server's database, where
// the server and its gateway answer, the person's options), the shape of a flow in the index, and the one
// error a sample refuses with (printed by the CLI as one `error:` line, exit code 1).
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";

/** The options of `gatehouse sample <flow>`; each flow reads the ones it needs. */
export interface SampleOptions {
  /** A Gatehouse user, for the flows that act as one (password, refresh; the assertion grants map to it). */
  username?: string;
  password?: string;
  /** How long an interactive flow waits for the browser, in seconds. */
  timeoutSeconds: number;
  /** Loopback port of the sample's own web server (interactive flows, the gateway's upstream); 0: any free one. */
  port: number;
  /** The authorization server's base URL; default ISSUER. */
  issuer?: string;
  /** The gateway's base URL; default http://<HOST>:<GATEWAY_PORT>. */
  gateway?: string;
  /** An existing API to ask tokens for instead of the sample API. */
  api?: string;
  /** With api: an existing gateway route path to call instead of the sample's own route and upstream. */
  path?: string;
}

export interface SampleContext {
  services: Services;
  config: Config;
  /** The authorization server's base URL (its issuer identifier). */
  issuer: string;
  /** The gateway's base URL. */
  gatewayUrl: string;
  options: SampleOptions;
  /** Tells the person running the sample what is happening (stderr: stdout carries only the result). */
  say(line: string): void;
  /** Records something the sample registered, e.g. "client sample-web (updated)", for the result. */
  registered(what: string): void;
}

/** What a flow got, as printed (JSON with --json, YAML otherwise): tokens summarized, never in full. */
export type SampleReport = Record<string, unknown>;

export interface Flow {
  /** The argument of `gatehouse sample <name>`. */
  name: string;
  /** The OAuth grant type (or response type) it shows. */
  grant: string;
  /** One line: what it does and when to use it. */
  description: string;
  /** Opens a browser page and waits for the person (or --timeout). */
  interactive: boolean;
  run(context: SampleContext): Promise<SampleReport>;
}

/** A sample's refusal: its message is the one line the CLI prints. */
export class SampleError extends Error {
  override name = "SampleError";
}

/**
 * The message of anything thrown, for a one-line error: an OAuth error response as its error code and
 * description (openid-client's ResponseBodyError carries them beside a generic message).
 */
export function reason(error: unknown): string {
  const answer = error as { error?: unknown; error_description?: unknown; status?: unknown };
  if (error instanceof Error && typeof answer.error === "string") {
    const status = typeof answer.status === "number" ? `${answer.status} ` : "";
    const description = typeof answer.error_description === "string" ? `: ${answer.error_description}` : "";
    return `Gatehouse answered ${status}${answer.error}${description}`;
  }
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    // openid-client puts the server's error_description in the message and the fetch failure in cause.
    return cause instanceof Error && !error.message.includes(cause.message) ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/**
 * The user a flow signs in as, from --username and --password.
 * @throws SampleError saying what to pass when either is missing
 */
export function requireUser(context: SampleContext, flow: string): { username: string; password: string } {
  const { username, password } = context.options;
  if (username && password) return { username, password };
  throw new SampleError(
    `the ${flow} sample signs in as a Gatehouse user: pass --username NAME and --password-stdin (or --password). ` +
      `The first start created "${context.config.ADMIN_USERNAME}" with ADMIN_PASSWORD or a password it printed, which must be changed on the login page first; ` +
      "`npx gatehouse user create NAME --password-stdin` makes another",
  );
}
