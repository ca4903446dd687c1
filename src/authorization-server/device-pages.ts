// The device authorization grant's pages (RFC 8628 §3.3): where a person types the code their device
// shows (GET/POST /device), confirms it, and lands once the device is connected. oidc-provider runs the
// flow (features.deviceFlow) and calls these sources; they render views/device-*.ejs in the sign-in
// pages' layout. Between the confirmation and the success page oidc-provider sends the browser through
// the ordinary interaction (the login and consent pages).
//
// oidc-provider hands each source a ready-made <form> carrying its CSRF token (the "xsrf" field, tied to
// the session). The pages render their own form instead, with the same token and action, so that the
// markup, the escaping and the look are the login page's (its input has an inline onfocus handler our CSP
// blocks anyway).
import type { Context } from "koa";
import type { Configuration, ErrorOut, KoaContextWithOIDC } from "oidc-provider";
import { sendPage } from "../web/pages.ts";
import type { Catalog } from "./catalog.ts";

/** User codes: eight letters of oidc-provider's base-20 alphabet (no vowels, nothing that looks alike). */
export const USER_CODE_CHARSET = "base-20";
export const USER_CODE_MASK = "****-****";

/** What the code entry page says; set by the sources, read by the guessing throttle (device-flow.ts). */
export interface DeviceCodeState {
  /** "wrong": a code was looked up and none matched, the one outcome that counts as a guess. */
  deviceCodeOutcome?: "wrong";
}

type DeviceFlowFeature = NonNullable<NonNullable<Configuration["features"]>["deviceFlow"]>;

/** The CSRF token oidc-provider put in its form (the same value it keeps in the session), or undefined. */
function xsrfOf(form: string): string | undefined {
  return /name="xsrf" value="([0-9a-f]+)"/.exec(form)?.[1];
}

/** The code verification URL, as oidc-provider builds it (the issuer's /device). */
function verificationUrl(ctx: KoaContextWithOIDC): string {
  return ctx.oidc.urlFor("code_verification");
}

function clientName(catalog: Catalog, client: { clientId: string; clientName?: string } | undefined): string {
  if (!client) return "";
  return catalog.client(client.clientId)?.name ?? client.clientName ?? client.clientId;
}

export interface CodePageOptions {
  /** oidc-provider's CSRF token; without it the page offers a fresh start instead of the form. */
  xsrf?: string;
  /** The code to show back in the field (what the person typed). */
  userCode?: string;
  heading?: string;
  lead?: string;
  error?: string;
  status: number;
}

/**
 * Renders the code entry page (views/device-code.ejs), never cached: the lock page of the guessing
 * throttle uses it too, without a form (it has no session to take a CSRF token from).
 */
export async function sendCodePage(ctx: Context, action: string, options: CodePageOptions): Promise<void> {
  ctx.set("Cache-Control", "no-store");
  await sendPage(
    ctx,
    "device-code",
    {
      title: "Connect a device",
      heading: options.heading ?? "Connect a device",
      lead: options.lead ?? "Enter the code shown on your device.",
      action,
      xsrf: options.xsrf ?? "",
      userCode: options.userCode ?? "",
      placeholder: USER_CODE_MASK.replaceAll("*", "X"),
      error: options.error ?? "",
    },
    options.status,
  );
}

/** What the code entry page says after a refusal, and with which status. */
function refusal(err: Error & { userCode?: string }, out: ErrorOut | undefined, currentStatus: number): Pick<CodePageOptions, "error" | "lead" | "heading" | "status"> {
  const startAgain = "Start again on your device to get a new code.";
  switch (err.name) {
    case "NoCodeError":
      return { error: "Enter the code your device shows.", status: 400 };
    case "NotFoundError":
      return err.userCode
        ? { error: "That code is not valid. Check the code on your device and try again.", status: 400 }
        : { error: `This sign-in request no longer exists. ${startAgain}`, status: 400 };
    case "ExpiredError":
      return { error: `That code has expired. ${startAgain}`, status: 400 };
    case "AlreadyUsedError":
      return { error: `That code has already been used. ${startAgain}`, status: 400 };
    case "AbortedError":
      return { heading: "Sign-in cancelled", lead: "Your device was not connected. To connect it after all, start again on the device and enter its new code.", status: 200 };
    default:
      // The CSRF check (invalid_request) or anything else: never a detail, only what to do.
      if (out?.error === "invalid_request") return { error: "This form has expired. Enter the code again.", status: 400 };
      return { error: "Something went wrong. Enter the code again.", status: currentStatus >= 400 ? currentStatus : 500 };
  }
}

/**
 * oidc-provider's deviceFlow sources and settings, rendered with Gatehouse's sign-in page kit.
 * @param catalog for the client names shown
 */
export function deviceFlowFeature(catalog: Catalog): DeviceFlowFeature {
  return {
    enabled: true,
    charset: USER_CODE_CHARSET,
    mask: USER_CODE_MASK,

    /** GET /device, and every refusal of POST /device (err set; out is the protocol error, if any). */
    async userCodeInputSource(ctx, form, out, err) {
      const xsrf = xsrfOf(form);
      const userCode = err && "userCode" in err && typeof err.userCode === "string" ? err.userCode : undefined;
      if (err?.name === "NotFoundError" && userCode) (ctx.state as DeviceCodeState).deviceCodeOutcome = "wrong";
      const page = err ? refusal(err as Error & { userCode?: string }, out, ctx.status) : { status: 200 };
      await sendCodePage(ctx as unknown as Context, verificationUrl(ctx), { ...page, xsrf, userCode: err?.name === "AbortedError" ? undefined : userCode });
    },

    /** POST /device with a code that matched: show it back with the client asking, to be confirmed. */
    async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
      const info = deviceInfo as { ip?: unknown } | undefined;
      ctx.set("Cache-Control", "no-store");
      await sendPage(
        ctx as unknown as Context,
        "device-confirm",
        {
          title: "Connect a device",
          clientName: clientName(catalog, client),
          userCode,
          deviceAddress: typeof info?.ip === "string" ? info.ip : "",
          action: verificationUrl(ctx),
          xsrf: xsrfOf(form) ?? "",
        },
        200,
      );
    },

    /** The device has its grant: the person can go back to it. */
    async successSource(ctx) {
      ctx.set("Cache-Control", "no-store");
      await sendPage(ctx as unknown as Context, "device-done", { title: "Device connected", clientName: clientName(catalog, ctx.oidc.client) }, 200);
    },
  };
}
