// What every console page shares: the shell's locals (who is signed in, the session's CSRF token, the
// flash message of the last change, which section of the navigation is current), form values and field
// errors for the views, and the formatting helpers the templates use. Views escape every value (<%= %>).
import type { Context } from "koa";
import type { FieldIssue } from "../../services/errors.ts";
import { sendPage } from "../../web/pages.ts";
import type { AdminPrincipal, AdminState } from "../access.ts";
import type { CsrfTokens } from "../../web/csrf.ts";

/** The sections of the console's navigation. */
export type Section = "dashboard" | "clients" | "apis" | "scopes" | "users" | "issuers" | "keys" | "audit";

export interface Flash {
  kind: "success" | "error";
  text: string;
}

const FLASH_COOKIE = "gatehouse_console_flash";
const FLASH_MAX_AGE_MS = 60_000;
const flashCookie = (ctx: Context) => ({ httpOnly: true, sameSite: "lax" as const, secure: ctx.protocol === "https", path: "/admin", signed: true, overwrite: true });

/** Redirects after a change (POST, redirect, GET), with a message the next page shows once. */
export function redirectWithFlash(ctx: Context, location: string, text: string, kind: Flash["kind"] = "success"): void {
  const value = Buffer.from(JSON.stringify({ kind, text } satisfies Flash)).toString("base64url");
  ctx.cookies.set(FLASH_COOKIE, value, { ...flashCookie(ctx), maxAge: FLASH_MAX_AGE_MS });
  ctx.redirect(location);
}

/** The flash message waiting for this page, if any; it is shown once. */
function takeFlash(ctx: Context): Flash | undefined {
  const raw = ctx.cookies.get(FLASH_COOKIE, { signed: true });
  if (raw === undefined) return undefined;
  ctx.cookies.set(FLASH_COOKIE, null, flashCookie(ctx));
  try {
    const flash = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as Flash;
    return (flash.kind === "success" || flash.kind === "error") && typeof flash.text === "string" ? flash : undefined;
  } catch {
    return undefined;
  }
}

/** A form's values (as the browser sends them: strings, lists joined with "\n") and its field errors. */
export class FormState {
  readonly values: Readonly<Record<string, string>>;
  readonly issues: readonly FieldIssue[];
  /** Fields the form shows: issues for any other field are listed above the form. */
  private readonly fields: ReadonlySet<string>;

  constructor(values: Readonly<Record<string, string>> = {}, issues: readonly FieldIssue[] = [], fields: readonly string[] = []) {
    this.values = values;
    this.issues = issues;
    this.fields = new Set(fields);
  }

  value(name: string, fallback = ""): string {
    return Object.hasOwn(this.values, name) ? this.values[name]! : fallback;
  }

  /** For checkboxes and multiple selects: whether `option` is among the field's values (a lone checkbox: present at all). */
  has(name: string, option?: string): boolean {
    if (!Object.hasOwn(this.values, name)) return false;
    return option === undefined ? this.values[name] !== "" : this.values[name]!.split("\n").includes(option);
  }

  /** The messages for a field: its own issues and those of its entries (`redirect_uris[1]`, `scopes.GET.all_of[0]`). */
  errors(name: string): string[] {
    return this.issues.filter((issue) => belongsTo(issue.field, name)).map((issue) => {
      const rest = issue.field.slice(name.length).replace(/^\./, "");
      return rest ? `${describePath(rest)}: ${issue.message}` : issue.message;
    });
  }

  invalid(name: string): boolean {
    return this.errors(name).length > 0;
  }

  /** Issues no shown field claims, for the alert above the form. */
  unplaced(): FieldIssue[] {
    return this.issues.filter((issue) => ![...this.fields].some((field) => belongsTo(issue.field, field)));
  }
}

function belongsTo(field: string, name: string): boolean {
  return field === name || field.startsWith(`${name}[`) || field.startsWith(`${name}.`);
}

/** `[0]` → "entry 1", `[2].jwks_uri` → "entry 3, jwks_uri". */
function describePath(rest: string): string {
  return rest.replace(/^\[(\d+)\]\.?/, (_, index: string) => `entry ${Number(index) + 1}${rest.length > index.length + 2 ? ", " : ""}`).replace(/\.$/, "");
}

const UNITS: Array<[number, string]> = [
  [365 * 86400, "year"],
  [30 * 86400, "month"],
  [86400, "day"],
  [3600, "hour"],
  [60, "minute"],
];

/** Formatting for the templates. */
export const format = {
  /** "3 days ago", "in 5 minutes", "just now". */
  ago(iso: string | null | undefined, now = Date.now()): string {
    if (!iso) return "—";
    const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
    const size = Math.abs(seconds);
    if (size < 45) return "just now";
    const [unit, name] = UNITS.find(([unit]) => size >= unit) ?? [60, "minute"];
    const count = Math.max(1, Math.round(size / unit));
    const text = `${count} ${name}${count === 1 ? "" : "s"}`;
    return seconds < 0 ? `${text} ago` : `in ${text}`;
  },
  /** "2026-11-30 17:01 UTC". */
  date(iso: string | null | undefined): string {
    return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : "—";
  },
  /** Seconds as "1 hour", "14 days", "90 seconds". */
  duration(seconds: number | null | undefined): string {
    if (seconds === null || seconds === undefined) return "—";
    for (const [unit, name] of [[86400, "day"], [3600, "hour"], [60, "minute"]] as const) {
      if (seconds >= unit && seconds % unit === 0) return `${seconds / unit} ${name}${seconds / unit === 1 ? "" : "s"}`;
    }
    return `${seconds} second${seconds === 1 ? "" : "s"}`;
  },
  bytes(value: number): string {
    if (value >= 1024 ** 2 && value % 1024 ** 2 === 0) return `${value / 1024 ** 2} MiB`;
    if (value >= 1024 && value % 1024 === 0) return `${value / 1024} KiB`;
    return `${value} bytes`;
  },
  json(value: unknown): string {
    return JSON.stringify(value, null, 2);
  },
  /**
   * An audit event's changes as short lines: `enabled: true → false` for an update's [before, after]
   * pairs, `grace_seconds: 3600` for an action's details; a creation lists no lines (its settings are
   * the whole resource, shown on demand).
   */
  changes(action: string, changes: Record<string, unknown> | null): string[] {
    if (!changes || action === "create") return [];
    const short = (value: unknown) => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      return text.length > 60 ? `${text.slice(0, 57)}…` : text;
    };
    return Object.entries(changes).map(([field, value]) =>
      action === "update" && Array.isArray(value) && value.length === 2 ? `${field}: ${short(value[0])} → ${short(value[1])}` : `${field}: ${short(value)}`,
    );
  },
  plural(count: number, word: string, many = `${word}s`): string {
    return `${count} ${count === 1 ? word : many}`;
  },
};

export interface PageDeps {
  csrf: CsrfTokens;
  issuer: string;
}

export interface PageLocals {
  title: string;
  section: Section;
  [name: string]: unknown;
}

/** Renders a console page inside the shell (views/admin/layout.ejs). */
export async function show(ctx: Context, deps: PageDeps, view: string, locals: PageLocals, status?: number): Promise<void> {
  const { principal } = ctx.state as AdminState;
  const session = principal as Extract<AdminPrincipal, { kind: "session" }>;
  await sendPage(
    ctx,
    `admin/${view}`,
    {
      form: new FormState(),
      ...locals,
      principal: session,
      may: session.mayWrite,
      csrf: deps.csrf.issue(session.sessionId),
      flash: takeFlash(ctx),
      issuerUrl: deps.issuer,
      format,
      shell: true,
    },
    status,
  );
}
