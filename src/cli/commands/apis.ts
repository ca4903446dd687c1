// `gatehouse api ...`: resource servers (audiences) tokens are issued for.
import { Option, type Command } from "commander";
import { ValidationError } from "../../services/errors.ts";
import { apiToEntry } from "../declarative/file-schema.ts";
import { positiveInteger, scopeList } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";

interface CreateOptions {
  identifier: string;
  name: string;
  format?: "jwt" | "opaque";
  ttl?: number;
  scope?: string[];
}

export function apiCommands(program: Command): void {
  const apis = program.command("api").description("manage APIs (resource servers)");

  apis
    .command("create")
    .description("register an API")
    .requiredOption("--identifier <uri>", "the API's identifier, used as the token audience (https URL or URN)")
    .requiredOption("--name <name>", "display name")
    .addOption(new Option("--format <format>", "access token format").choices(["jwt", "opaque"]))
    .option("--ttl <seconds>", "access token lifetime", positiveInteger)
    .option("--scope <scopes>", "scopes the API defines, space-separated, repeatable", scopeList)
    .action((options: CreateOptions, command: Command) =>
      run(command, async ({ services }) => {
        if ((await services.apis.list()).some((a) => a.identifier === options.identifier)) {
          throw new ValidationError(`api ${options.identifier} already exists`);
        }
        const { api } = await services.apis.upsert({
          identifier: options.identifier,
          name: options.name,
          tokenFormat: options.format,
          accessTokenTtl: options.ttl,
          scopes: options.scope,
        });
        const data = apiToEntry(api);
        return { data, text: () => fields(data) };
      }),
    );

  apis
    .command("list")
    .description("list APIs")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = (await services.apis.list()).map(apiToEntry);
        return { data, text: () => table(data, ["identifier", "name", "token_format", "access_token_ttl", "scopes"]) };
      }),
    );

  apis
    .command("delete <identifier>")
    .description("delete an API")
    .action((identifier: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.apis.delete(identifier);
        return { data: { deleted: identifier }, text: () => `api ${identifier} deleted` };
      }),
    );
}
