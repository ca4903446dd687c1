// `gatehouse issuer ...`: trusted assertion issuers, the outside identity providers whose signed JWTs
// (RFC 7523) or SAML 2.0 assertions (RFC 7522) clients may trade for Gatehouse tokens.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import { Option, type Command } from "commander";
import { ValidationError } from "../../services/errors.ts";
import type { IssuerInput, IssuerResource } from "../../services/issuers.ts";
import { ASYMMETRIC_ALGORITHMS } from "../../shared/algorithms.ts";
import { positiveInteger, repeatable, repeatableChoice, scopeList } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";

interface IssuerOptions {
  kind?: IssuerInput["kind"];
  name?: string;
  jwksFile?: string;
  jwksUri?: string;
  certificateFile?: string;
  client?: string[];
  subjectMapping?: IssuerInput["subject_mapping"];
  scope?: string[];
  maxAssertionLifetime?: number;
  algorithm?: string[];
  disabled?: boolean;
  enabled?: boolean;
}

/** A file's text, or standard input for "-". */
async function readText(option: string, file: string): Promise<string> {
  try {
    return file === "-" ? await readStdin() : await fs.readFile(file, "utf8");
  } catch (error) {
    throw new ValidationError(`${option} ${file}: ${(error as Error).message}`);
  }
}

async function readJwks(file: string): Promise<IssuerInput["jwks"]> {
  const text = await readText("--jwks-file", file);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`--jwks-file ${file}: ${(error as Error).message}`);
  }
}

/** The fields the options set (and only those: an update keeps the others). */
async function toInput(options: IssuerOptions): Promise<Partial<IssuerInput>> {
  const input: Partial<IssuerInput> = {};
  if (options.kind) input.kind = options.kind;
  if (options.name) input.name = options.name;
  if (options.jwksFile) input.jwks = await readJwks(options.jwksFile);
  if (options.jwksUri) input.jwks_uri = options.jwksUri;
  if (options.certificateFile) input.certificate = await readText("--certificate-file", options.certificateFile);
  if (options.client) input.clients = options.client;
  if (options.subjectMapping) input.subject_mapping = options.subjectMapping;
  if (options.scope) input.scopes = options.scope;
  if (options.maxAssertionLifetime !== undefined) input.max_assertion_lifetime = options.maxAssertionLifetime;
  if (options.algorithm) input.algorithms = options.algorithm as IssuerInput["algorithms"];
  if (options.disabled) input.enabled = false;
  if (options.enabled) input.enabled = true;
  return input;
}

/** The issuer without its key material spelled out (a certificate or JWKS is long): what it is and who may use it. */
function summary(issuer: IssuerResource) {
  const { jwks, certificate, ...rest } = issuer;
  return {
    ...rest,
    jwks: jwks ? `${jwks.keys.length} key${jwks.keys.length === 1 ? "" : "s"} (kid ${jwks.keys.map((k) => String(k.kid ?? "-")).join(", ")})` : null,
    certificate: certificate ? certificateSummary(certificate) : null,
  };
}

function certificateSummary(pem: string): string {
  const x509 = new crypto.X509Certificate(pem);
  return `${x509.subject.replace(/\n/g, ", ")}, valid until ${new Date(x509.validTo).toISOString()}, SHA-256 ${x509.fingerprint256}`;
}

const HELP = `
A JWT issuer is checked with its keys: --jwks-file (a JSON Web Key Set, public keys only) or --jwks-uri
(fetched and cached, fetched again on an unknown kid). A SAML issuer is checked with its signing
certificate, pinned here (--certificate-file, PEM); a certificate inside an assertion is never trusted.
Its assertions are accepted only from the clients listed with --client, which also need the grant
(--grant urn:ietf:params:oauth:grant-type:jwt-bearer or ...:saml2-bearer on the client).
--subject-mapping says who the assertion's subject is: a user by username (default) or by email, or
"service": no user, the token's sub is "<issuer>#<subject>".`;

function issuerOptions(command: Command, creating: boolean): Command {
  const kind = new Option("--kind <kind>", "jwt (RFC 7523) or saml (RFC 7522)").choices(["jwt", "saml"]);
  return command
    .addOption(creating ? kind.makeOptionMandatory() : kind)
    .option("--name <name>", "display name")
    .option("--jwks-file <file>", "JWT issuer: its public keys as a JSON Web Key Set file (- reads stdin)")
    .option("--jwks-uri <url>", "JWT issuer: the URL of its JSON Web Key Set")
    .option("--certificate-file <file>", "SAML issuer: its signing certificate, PEM (- reads stdin)")
    .option("--client <client_id>", "a client allowed to present its assertions, repeatable", repeatable)
    .addOption(new Option("--subject-mapping <how>", "the assertion's subject is a user's username, a user's email, or a service identity").choices(["username", "email", "service"]))
    .option("--scope <scopes>", "scopes its assertions may grant at most, space-separated, repeatable", scopeList)
    .option("--max-assertion-lifetime <seconds>", "longest assertion lifetime accepted (default 300)", positiveInteger)
    .option("--algorithm <alg>", `JWT signature algorithm accepted, repeatable (${ASYMMETRIC_ALGORITHMS.join(", ")})`, repeatableChoice(ASYMMETRIC_ALGORITHMS))
    .addHelpText("after", HELP);
}

export function issuerCommands(program: Command): void {
  const issuers = program.command("issuer").description("manage trusted assertion issuers (JWT bearer and SAML 2.0 bearer grants)");

  issuerOptions(issuers.command("create <issuer>").description("trust an issuer (its JWT iss or SAML entity ID)"), true)
    .option("--disabled", "create it disabled")
    .action((issuer: string, options: IssuerOptions, command: Command) =>
      run(command, async ({ services }) => {
        const input = await toInput(options);
        const data = await services.issuers.create({ ...input, issuer, name: input.name ?? issuer } as IssuerInput);
        return { data, text: () => fields(summary(data)) };
      }),
    );

  issuerOptions(issuers.command("update <issuer>").description("change the settings given, keeping the others"), false)
    .option("--disabled", "stop trusting it (its assertions are refused)")
    .option("--enabled", "trust it again")
    .action((issuer: string, options: IssuerOptions, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.issuers.update(issuer, await toInput(options));
        return { data, text: () => fields(summary(data)) };
      }),
    );

  issuers
    .command("list")
    .description("list trusted issuers")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.issuers.list();
        return { data, text: () => table(data.map(summary), ["issuer", "kind", "name", "clients", "subject_mapping", "enabled"]) };
      }),
    );

  issuers
    .command("show <issuer>")
    .description("show one trusted issuer")
    .action((issuer: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.issuers.get(issuer);
        return { data, text: () => fields(summary(data)) };
      }),
    );

  issuers
    .command("delete <issuer>")
    .description("stop trusting an issuer and forget it")
    .action((issuer: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.issuers.delete(issuer);
        return { data: { deleted: issuer }, text: () => `issuer ${issuer} deleted` };
      }),
    );
}
