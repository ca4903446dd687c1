// `gatehouse audit list`: the changes made through the console, the admin API, the CLI and `apply`.
import { Option, type Command } from "commander";
import { positiveInteger } from "../option-parsers.ts";
import { table } from "../output.ts";
import { run } from "../run.ts";

interface ListOptions {
  entity?: "client" | "scope" | "api" | "route" | "user" | "key";
  id?: string;
  actor?: string;
  since?: string;
  limit?: number;
}

export function auditCommands(program: Command): void {
  const audit = program.command("audit").description("the audit log of configuration changes");

  audit
    .command("list")
    .description("list changes, newest first")
    .addOption(new Option("--entity <type>", "only changes to this kind of entity").choices(["client", "scope", "api", "route", "user", "key"]))
    .option("--id <id>", "only changes to this entity (client_id, identifier, username, route id, ...)")
    .option("--actor <name>", "only changes by this admin user, API client or OS user")
    .option("--since <time>", "only changes at or after this ISO 8601 time")
    .option("--limit <n>", "at most this many (default 50)", positiveInteger)
    .action((options: ListOptions, command: Command) =>
      run(command, async ({ services }) => {
        const page = await services.audit.list({ entity_type: options.entity, entity_id: options.id, actor: options.actor, since: options.since, limit: options.limit });
        const rows = page.items.map((e) => ({ ...e, changes: e.changes ? Object.keys(e.changes).join(" ") : "" }));
        return { data: page.items, text: () => table(rows, ["at", "actor_kind", "actor", "action", "entity_type", "entity_id", "changes"]) };
      }),
    );
}
