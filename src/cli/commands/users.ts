// `gatehouse user ...`: end-user accounts that sign in at the authorization server.
import type { Command } from "commander";
import { ValidationError } from "../../services/errors.ts";
import { generateSecret } from "../../services/passwords.ts";
import { repeatable } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { listAll, run } from "../run.ts";
import { readStdin } from "../stdin.ts";

interface PasswordOptions {
  password?: string;
  passwordStdin?: boolean;
}

interface CreateOptions extends PasswordOptions {
  email?: string;
  name?: string;
  role?: string[];
}

const PASSWORD_NOTE = "\n\nThe generated password is shown only now.";

/** The password given (from the command line or standard input), or undefined for a generated one. */
async function givenPassword(options: PasswordOptions): Promise<string | undefined> {
  if (options.password !== undefined && options.passwordStdin) throw new ValidationError("give --password or --password-stdin, not both");
  return options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : options.password;
}

function withPasswordOptions(command: Command): Command {
  return command
    .option("--password <password>", "the password (visible to other local users; prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .addHelpText("after", "\nWithout --password or --password-stdin a password is generated and printed once.");
}

export function userCommands(program: Command): void {
  const users = program.command("user").description("manage user accounts");

  withPasswordOptions(users.command("create <username>").description("create a user"))
    .option("--email <email>", "email address")
    .option("--name <full name>", "full name (the OIDC name claim)")
    .option("--role <role>", "role, repeatable", repeatable)
    .action((username: string, options: CreateOptions, command: Command) =>
      run(command, async ({ services }) => {
        const { user, password } = await services.users.create({
          username,
          email: options.email,
          password: await givenPassword(options),
          claims: options.name ? { name: options.name } : {},
          roles: options.role,
        });
        const data = { ...user, ...(password ? { password } : {}) };
        return { data, text: () => fields(data) + (password ? PASSWORD_NOTE : "") };
      }),
    );

  users
    .command("list")
    .description("list users")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await listAll((query) => services.users.list(query));
        return { data, text: () => table(data, ["username", "email", "roles", "enabled"]) };
      }),
    );

  withPasswordOptions(
    users.command("set-password <username>").description("replace a user's password: signs them out everywhere, ends their tokens and lifts sign-in locks"),
  )
    .action((username: string, options: PasswordOptions, command: Command) =>
      run(command, async ({ services }) => {
        const given = await givenPassword(options);
        const password = given ?? generateSecret();
        await services.users.setPassword(username, password);
        const data = { username, ...(given === undefined ? { password } : {}) };
        return { data, text: () => (given === undefined ? fields(data) + PASSWORD_NOTE : `password of ${username} changed`) };
      }),
    );

  for (const [name, enabled] of [["enable", true], ["disable", false]] as const) {
    users
      .command(`${name} <username>`)
      .description(enabled ? "allow a disabled user to sign in again" : "stop a user from signing in: ends their sessions and tokens")
      .action((username: string, _options, command: Command) =>
        run(command, async ({ services }) => {
          const data = await services.users.update(username, { enabled });
          return { data, text: () => `user ${username} ${name}d` };
        }),
      );
  }

  users
    .command("revoke-sessions <username>")
    .description("sign a user out everywhere and end their grants and tokens, keeping the account and its consents")
    .action((username: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const ended = await services.users.revokeSessions(username);
        const data = { username, artifacts_revoked: ended.artifacts, not_before: ended.notBefore.toISOString() };
        return { data, text: () => `ended ${ended.artifacts} sessions, grants and tokens of ${username}; JWT access tokens issued before ${data.not_before} are refused` };
      }),
    );

  users
    .command("unlock <username>")
    .description("lift the password-attempt locks on an account, from every source address")
    .action((username: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const cleared = await services.users.unlock(username);
        return { data: { username, counters_cleared: cleared }, text: () => `${username} unlocked` };
      }),
    );

  users
    .command("delete <username>")
    .description("delete a user, the consents they gave, their sessions and tokens")
    .action((username: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.users.delete(username);
        return { data: { deleted: username }, text: () => `user ${username} deleted` };
      }),
    );
}
