// `gatehouse scope ...`: the scopes clients may request beyond OIDC's standard ones.
import type { Command } from "commander";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";

export function scopeCommands(program: Command): void {
  const scopes = program.command("scope").description("manage scopes");

  scopes
    .command("create <name>")
    .description("register a scope")
    .option("--description <text>", "what the scope grants, shown on the consent page")
    .action((name: string, options: { description?: string }, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.scopes.create({ name, description: options.description });
        return { data, text: () => fields(data) };
      }),
    );

  scopes
    .command("list")
    .description("list registered scopes")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.scopes.list();
        return { data, text: () => table(data, ["name", "description"]) };
      }),
    );

  scopes
    .command("delete <name>")
    .description("delete a scope")
    .action((name: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.scopes.delete(name);
        return { data: { deleted: name }, text: () => `scope ${name} deleted` };
      }),
    );
}
