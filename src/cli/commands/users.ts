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
  temporary?: boolean;
}

interface CreateOptions extends PasswordOptions {
  email?: string;
  name?: string;
  role?: string[];
}

const PASSWORD_NOTE = "\n\nThe generated password is shown only now, and must be changed at the first sign-in.";

/** The password given (from the command line or standard input), or undefined for a generated one. */
async function givenPassword(options: PasswordOptions): Promise<string | undefined> {
  if (options.password !== undefined && options.passwordStdin) throw new ValidationError("give --password or --password-stdin, not both");
  return options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : options.password;
}

function withPasswordOptions(command: Command): Command {
  return command
    .option("--password <password>", "the password (visible to other local users; prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .option("--temporary", "the user must choose a new password at their next sign-in")
    .addHelpText(
      "after",
      "\nWithout --password or --password-stdin a password is generated, printed once, and must be changed at the\n" +
        "first sign-in (the login page asks for a new one; the password grant refuses it until then). A given\n" +
        "password stays unless --temporary.",
    );
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
          ...(options.temporary ? { password_change_required: true } : {}),
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
        const rows = data.map((u) => ({ ...u, must_change_password: u.password_change_required }));
        return { data, text: () => table(rows, ["username", "email", "roles", "enabled", "must_change_password"]) };
      }),
    );

  users
    .command("show <username>")
    .description("show a user: profile, roles, whether they must change their password, and any sign-in lock")
    .action((username: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        const data = { ...(await services.users.get(username)), locked_until: await services.users.lockedUntil(username) };
        return { data, text: () => fields(data) };
      }),
    );

  withPasswordOptions(
    users.command("set-password <username>").description("replace a user's password: signs them out everywhere, ends their tokens and lifts sign-in locks"),
  )
    .action((username: string, options: PasswordOptions, command: Command) =>
      run(command, async ({ services }) => {
        const given = await givenPassword(options);
        const password = given ?? generateSecret();
        const temporary = given === undefined || options.temporary === true;
        await services.users.setPassword(username, password, { temporary });
        const data = { username, ...(given === undefined ? { password } : {}), password_change_required: temporary };
        const text = () =>
          given === undefined ? fields(data) + PASSWORD_NOTE : `password of ${username} changed${temporary ? ": it must be changed at the next sign-in" : ""}`;
        return { data, text };
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
