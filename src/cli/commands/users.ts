// `gatehouse user ...`: end-user accounts that sign in at the authorization server.
import type { Command } from "commander";
import { z } from "zod";
import { ValidationError, parseInput } from "../../services/errors.ts";
import { generateSecret } from "../../services/passwords.ts";
import { passwordSchema } from "../../services/users.ts";
import { repeatable } from "../option-parsers.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";
import { readStdin } from "../stdin.ts";
import { userJson } from "../views.ts";

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

/**
 * The password given, checked here so a bad one is reported as `password: ...`; or a generated one,
 * which the command then prints once.
 */
async function choosePassword(options: PasswordOptions): Promise<{ password: string; generated: boolean }> {
  if (options.password !== undefined && options.passwordStdin) throw new ValidationError("give --password or --password-stdin, not both");
  const given = options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : options.password;
  if (given === undefined) return { password: generateSecret(), generated: true };
  return { password: parseInput(z.object({ password: passwordSchema }), { password: given }).password, generated: false };
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
        const { password, generated } = await choosePassword(options);
        const user = await services.users.create({
          username,
          email: options.email,
          password,
          claims: options.name ? { name: options.name } : {},
          roles: options.role,
        });
        const data = { ...userJson(user), ...(generated ? { password } : {}) };
        return { data, text: () => fields(data) + (generated ? PASSWORD_NOTE : "") };
      }),
    );

  users
    .command("list")
    .description("list users")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = (await services.users.list()).map(userJson);
        return { data, text: () => table(data, ["username", "email", "roles", "enabled", "locked_until"]) };
      }),
    );

  withPasswordOptions(users.command("set-password <username>").description("replace a user's password and lift a sign-in lock"))
    .action((username: string, options: PasswordOptions, command: Command) =>
      run(command, async ({ services }) => {
        const { password, generated } = await choosePassword(options);
        await services.users.setPassword(username, password);
        const data = { username, ...(generated ? { password } : {}) };
        return { data, text: () => (generated ? fields(data) + PASSWORD_NOTE : `password of ${username} changed`) };
      }),
    );

  users
    .command("delete <username>")
    .description("delete a user and the consents they gave")
    .action((username: string, _options, command: Command) =>
      run(command, async ({ services }) => {
        await services.users.delete(username);
        return { data: { deleted: username }, text: () => `user ${username} deleted` };
      }),
    );
}
