// The `gatehouse` command line: administers clients, scopes, APIs, gateway routes and policies, users and signing keys through the
// services the server uses, against the database DATABASE_URL (or .env) names.
import { Command } from "commander";
import { apiCommands } from "./commands/apis.ts";
import { applyCommands } from "./commands/apply.ts";
import { auditCommands } from "./commands/audit.ts";
import { clientCommands } from "./commands/clients.ts";
import { issuerCommands } from "./commands/issuers.ts";
import { keyCommands } from "./commands/keys.ts";
import { policyCommands } from "./commands/policies.ts";
import { routeCommands } from "./commands/routes.ts";
import { sampleCommands } from "./commands/sample.ts";
import { scopeCommands } from "./commands/scopes.ts";
import { userCommands } from "./commands/users.ts";
import { printError } from "./output.ts";

const program = new Command("gatehouse")
  .description("administer a Gatehouse authorization server")
  .option("--json", "print machine-readable JSON on stdout (logs go to stderr)")
  .option("--env [prefix]", "print the result as shell assignments, `export PREFIX_FIELD='value'`, for eval \"$(gatehouse ...)\"")
  .configureHelp({ showGlobalOptions: true })
  // Usage errors print like every other failure, and as JSON with --json; the parser decides the exit code.
  .configureOutput({ outputError: (message) => printError(message.replace(/^error: /, ""), process.argv.includes("--json")) });

// Registered after the settings above, which subcommands copy when they are created.
for (const register of [clientCommands, scopeCommands, apiCommands, routeCommands, policyCommands, userCommands, issuerCommands, keyCommands, applyCommands, auditCommands, sampleCommands]) register(program);

await program.parseAsync();
