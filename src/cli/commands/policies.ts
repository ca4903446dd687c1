// `gatehouse policy ...`: gateway policies attached to an API or a route. Each policy's options are made
// from its schema (services/policy-fields.ts), so `gatehouse policy attach rate_limit --help` documents
// exactly what the services check; `gatehouse policy show ID` prints the same as a reference.
import { Command, InvalidArgumentError, Option } from "commander";
import { ValidationError } from "../../services/errors.ts";
import { POLICY_IDS, isPolicyId, policySpec, type PolicyId } from "../../services/policies.ts";
import { fieldSummary, formatValue, parseItem, parsePair, policyFields, scalar, type PolicyField } from "../../services/policy-fields.ts";
import type { Services } from "../../services/index.ts";
import { table } from "../output.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";

interface Target {
  api?: string;
  route?: string;
}

/** --max-age for max_age. */
const flag = (field: PolicyField) => field.name.replace(/_/g, "-");
/** The camelCase key commander stores an option under. */
const key = (field: PolicyField) => field.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function policyId(value: string): PolicyId {
  if (!isPolicyId(value)) throw new InvalidArgumentError(`Unknown policy ${value}: one of ${POLICY_IDS.join(", ")}.`);
  return value;
}

/** The option for one field; repeatable for lists, maps and lists of objects. */
function optionFor(field: PolicyField): Option {
  const help = `${field.description.replace(/`/g, "")} (${fieldSummary(field)})`;
  switch (field.kind) {
    case "boolean":
      return new Option(`--${flag(field)}`, help);
    case "list":
      return new Option(`--${flag(field)} <value>`, `${help}; repeatable, or comma-separated`).argParser((value: string, previous: string[] = []) => [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)]);
    case "map":
      return new Option(`--${flag(field)} <key=value>`, `${help}; repeatable`).argParser((value: string, previous: Record<string, string> = {}) => {
        const pair = parsePair(value);
        if (!pair) throw new InvalidArgumentError("Expected KEY=VALUE.");
        return { ...previous, [pair[0]]: pair[1] };
      });
    case "items":
      return new Option(`--${flag(field).replace(/s$/, "")} <${field.fields!.map((f) => `${f.name}=…`).join(" ")}>`, `${help}; repeatable, one per option`).argParser(
        (value: string, previous: object[] = []) => {
          try {
            return [...previous, parseItem(field, value)];
          } catch (error) {
            if (error instanceof ValidationError) throw new InvalidArgumentError(`${error.issues.map((i) => i.message).join("; ")}.`);
            throw error;
          }
        },
      );
    case "choice":
      return new Option(`--${flag(field)} <value>`, help).choices(field.choices!);
    default:
      return new Option(`--${flag(field)} <value>`, help).argParser((value: string) => scalar(field, value));
  }
}

/** The settings the options give: only fields given (the others take their defaults). */
async function settingsOf(id: PolicyId, options: Record<string, unknown>): Promise<Record<string, unknown>> {
  const settings: Record<string, unknown> = {};
  for (const field of policyFields(id)) {
    const name = field.kind === "items" ? key(field).replace(/s$/, "") : key(field);
    let value = options[name];
    if (field.writeOnly && options[`${name}Stdin`]) {
      if (value !== undefined) throw new ValidationError(`give --${flag(field)} or --${flag(field)}-stdin, not both`);
      value = (await readStdin()).replace(/\r?\n$/, "");
    }
    if (value !== undefined) settings[field.name] = value;
  }
  return settings;
}

function target(options: Target): { api: string } | { route: string } {
  if ((options.api === undefined) === (options.route === undefined)) throw new ValidationError("give --api IDENTIFIER or --route ID (one of them)");
  return options.api !== undefined ? { api: options.api } : { route: options.route! };
}

async function attachedTo(services: Services, where: { api: string } | { route: string }) {
  return "api" in where ? (await services.apis.get(where.api)).policies : (await services.routes.get(where.route)).policies;
}

const where = (to: { api: string } | { route: string }) => ("api" in to ? `api ${to.api}` : `route ${to.route}`);

/** A policy's settings as lines of `field  value`, written as its options take them (a list of objects one per line). */
function settingsText(id: PolicyId, settings: object): string {
  const entries = Object.entries(settings);
  if (!entries.length) return "(no settings)";
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries
    .map(([name, value]) => {
      const field = policyFields(id).find((f) => f.name === name);
      const text = field ? formatValue(field, value, field.kind === "items" ? `\n${" ".repeat(width + 2)}` : ", ") : JSON.stringify(value);
      return `${name.padEnd(width)}  ${text === "" ? "-" : text}`;
    })
    .join("\n");
}

/** `gatehouse policy show rate_limit`: the policy's reference, from its schema. */
function reference(id: PolicyId): string {
  const spec = policySpec(id);
  const lines = [`${id} — ${spec.title}`, spec.summary, `stages: ${spec.stages.join(", ")}; attaches to: ${spec.attachTo.join(", ")}; ${spec.combine === "add" ? "an API's and a route's both apply" : "a route's replaces its API's"}`, ""];
  const describe = (field: PolicyField, indent: string) => {
    lines.push(`${indent}${field.name}  (${fieldSummary(field)})`);
    if (field.description) lines.push(`${indent}    ${field.description}`);
    for (const sub of field.fields ?? []) describe(sub, `${indent}    `);
  };
  for (const field of policyFields(id)) describe(field, "  ");
  return lines.join("\n");
}

export function policyCommands(program: Command): void {
  const policies = program
    .command("policy")
    .description("gateway policies (CORS, rate limits, claim headers, token forwarding, outbound OAuth) of an API or a route");

  policies
    .command("list")
    .description("list the policies there are, or those attached to an API or a route")
    .option("--api <identifier>", "the policies attached to this API")
    .option("--route <id>", "the policies attached to this route")
    .action((options: Target, command: Command) =>
      run(command, async ({ services }) => {
        if (options.api === undefined && options.route === undefined) {
          const data = POLICY_IDS.map((id) => ({ id, stages: [...policySpec(id).stages], attach_to: [...policySpec(id).attachTo], summary: policySpec(id).summary }));
          return { data, text: () => table(data, ["id", "stages", "attach_to", "summary"]) };
        }
        const data = await attachedTo(services, target(options));
        return { data, text: () => (Object.keys(data).length ? Object.entries(data).map(([id, settings]) => `${id}\n${settingsText(id as PolicyId, settings).replace(/^/gm, "  ")}`).join("\n") : "(none)") };
      }),
    );

  policies
    .command("show <policy>")
    .description("what a policy does and each of its settings: type, default, range")
    .action((id: string, _options, command: Command) =>
      run(command, async () => {
        const policy = policyId(id);
        const spec = policySpec(policy);
        const data = { id: policy, title: spec.title, summary: spec.summary, stages: spec.stages, attach_to: spec.attachTo, combine: spec.combine, fields: policyFields(policy) };
        return { data, text: () => reference(policy) };
      }),
    );

  const attach = policies
    .command("attach")
    .description("attach a policy to an API or a route, or replace its settings: exactly those given, the defaults for the others")
    .addHelpText("after", `\nPolicies: ${POLICY_IDS.join(", ")}. \`gatehouse policy attach POLICY --help\` lists its settings.`);
  for (const id of POLICY_IDS) {
    const spec = policySpec(id);
    const sub = attach
      .command(id)
      .description(spec.summary)
      .option("--api <identifier>", "attach it to this API (it applies to each of its routes)")
      .option("--route <id>", "attach it to this route");
    for (const field of policyFields(id)) {
      sub.addOption(optionFor(field));
      if (field.writeOnly) sub.option(`--${flag(field)}-stdin`, `read ${field.name} from standard input`);
    }
    if (spec.keepsReferences) sub.addHelpText("after", "\nValues may contain ${NAME} references (quote them from the shell): they are stored as written and the\ngateway resolves them from its own environment at request time.");
    sub.action((options: Target & Record<string, unknown>, command: Command) =>
      run(command, async ({ services }) => {
        const to = target(options);
        const settings = await settingsOf(id, options);
        const resource = "api" in to ? await services.apis.attachPolicy(to.api, id, settings) : await services.routes.attachPolicy(to.route, id, settings);
        const data = resource.policies[id]!;
        return { data, text: () => `${id} attached to ${where(to)}\n${settingsText(id, data)}` };
      }),
    );
  }

  policies
    .command("detach <policy>")
    .description("detach a policy from an API or a route")
    .option("--api <identifier>", "from this API")
    .option("--route <id>", "from this route")
    .action((id: string, options: Target, command: Command) =>
      run(command, async ({ services }) => {
        const policy = policyId(id);
        const to = target(options);
        if ("api" in to) await services.apis.detachPolicy(to.api, policy);
        else await services.routes.detachPolicy(to.route, policy);
        return { data: { detached: policy, ...to }, text: () => `${policy} detached from ${where(to)}` };
      }),
    );
}
