// `gatehouse keys ...`: the signing keys behind every issued token and the published JWKS.
import { Option, type Command } from "commander";
import { SIGNING_ALGS, type SigningAlg } from "../../services/keys.ts";
import { fields, table } from "../output.ts";
import { run } from "../run.ts";

export function keyCommands(program: Command): void {
  const keys = program.command("keys").description("manage token signing keys");

  keys
    .command("list")
    .description("list signing keys: the active one, the next one (already published) and retired ones still published")
    .action((_options, command: Command) =>
      run(command, async ({ services }) => {
        const data = await services.keys.list();
        return { data, text: () => table(data, ["kid", "alg", "status", "activated_at", "expires_at"]) };
      }),
    );

  keys
    .command("rotate")
    .description("sign with the next key from now on; the current key stays published until its tokens have expired")
    .addOption(new Option("--alg <alg>", "algorithm of the new next key (default: the current next key's)").choices(SIGNING_ALGS))
    .action((options: { alg?: SigningAlg }, command: Command) =>
      run(command, async ({ config, services }) => {
        // A database the server has never started on has no keys yet: create them as the server would.
        await services.keys.ensure(config.SIGNING_ALG);
        const data = await services.keys.rotate({ alg: options.alg });
        return { data, text: () => fields(data) };
      }),
    );
}
