// `gatehouse apply FILE` and `gatehouse export`: configuration as a file, kept in version control.
import fs from "node:fs/promises";
import { Option, type Command } from "commander";
import YAML from "yaml";
import type { ApplyReport } from "../../services/declarative.ts";
import { ValidationError } from "../../services/errors.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";

const KINDS = ["scopes", "apis", "routes", "clients", "users", "issuers"] as const;

function summary(report: ApplyReport): string {
  const lines = KINDS.map((kind) => {
    const t = report[kind];
    return `${(kind + ":").padEnd(9)}${t.created} created, ${t.updated} updated, ${t.unchanged} unchanged`;
  });
  lines.push(`${report.changes} change${report.changes === 1 ? "" : "s"}`);
  for (const s of report.generated_client_secrets) lines.push(`generated secret of client ${s.client_id} (shown only now): ${s.client_secret}`);
  for (const p of report.generated_passwords) lines.push(`generated password of user ${p.username} (shown only now): ${p.password}`);
  return lines.join("\n");
}

/** A YAML or JSON (which is YAML too) file, or standard input for "-". */
async function readFile(file: string): Promise<unknown> {
  const text = file === "-" ? await readStdin() : await fs.readFile(file, "utf8");
  try {
    return YAML.parse(text) ?? {};
  } catch (error) {
    // The parser's message continues with an excerpt of the file over several lines; its first line says where.
    throw new ValidationError(`${file}: ${(error as Error).message.split("\n")[0]}`);
  }
}

const APPLY_NOTE = `
\${NAME} in a value is replaced by the environment variable NAME, e.g. client_secret: \${APP_SECRET}, except
inside an API's outbound_oauth: there references are stored as written and the gateway resolves them from
its own environment at request time, so one file serves dev, test and prod.
Entries the file does not list, routes included, are left as they are.`;

export function applyCommands(program: Command): void {
  program
    .command("apply <file>")
    .description("create or update the scopes, APIs with their routes, clients and users a YAML or JSON file declares (- reads stdin)")
    .addHelpText("after", APPLY_NOTE)
    .action((file: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const report = await services.declarative.apply(services.declarative.parse(await readFile(file), process.env));
        return { data: report, text: () => summary(report) };
      }),
    );

  program
    .command("export")
    .description("print the scopes, APIs with their routes, clients and users as a file for apply (never secrets or password hashes)")
    .addOption(new Option("--format <format>", "file format").choices(["yaml", "json"]).default("yaml"))
    .action((options: { format: "yaml" | "json" }, command: Command) =>
      run(command, async ({ services }) => {
        const file = await services.declarative.export();
        // --json gives the file as JSON too, so the output can be applied either way.
        return { data: file, text: () => (options.format === "json" ? JSON.stringify(file, null, 2) + "\n" : YAML.stringify(file)) };
      }),
    );
}
