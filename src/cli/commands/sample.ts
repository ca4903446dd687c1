// `gatehouse sample [flow]`: runnable sample clients, one per flow, against the running server. Without
// a flow it lists them. A sample registers what it needs through the services (on the server's
// DATABASE_URL), runs its flow with openid-client and prints what it got: YAML for people, JSON with
// --json. Progress and "open this URL" lines go to stderr, so stdout is the result alone.
import type { Command } from "commander";
import YAML from "yaml";
import { ValidationError } from "../../services/errors.ts";
import { SampleError, reason, type SampleContext, type SampleOptions } from "../../samples/sample.ts";
import { nonNegativeInteger, positiveInteger } from "../option-parsers.ts";
import { printResult, table } from "../output.ts";
import { readStdin } from "../stdin.ts";
import { run } from "../run.ts";

interface CommandOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  timeout: number;
  port: number;
  issuer?: string;
  gateway?: string;
  api?: string;
  path?: string;
}

const NOTES = `
Each sample registers what it needs on the database DATABASE_URL names (the running server's): a client
sample-<flow> with a fresh secret, the API https://sample-api.gatehouse.test with scope sample:read, and for
some flows a trusted issuer or a gateway route. Running it again brings them up to date.

password and refresh sign in as a user: --username NAME --password-stdin. The first start created the
admin user (ADMIN_USERNAME, default admin) with ADMIN_PASSWORD or a password it printed, which must be
changed on the login page first; make another with \`gatehouse user create NAME --password-stdin\`. jwt-bearer and saml-bearer map their assertion to
--username when given, else to a service identity. web, spa and implicit print a loopback address to open
in a browser and wait for the sign-in (--timeout).`;

/** Where the gateway listens, from HOST and GATEWAY_PORT (a wildcard address is reached on loopback). */
function gatewayUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

export function sampleCommands(program: Command): void {
  program
    .command("sample")
    .description("run a sample client for one flow against the running server (without a flow: list them)")
    .argument("[flow]", "the flow to run (see the list without one)")
    .option("--username <name>", "the Gatehouse user the flow acts as (password, refresh; jwt-bearer, saml-bearer)")
    .option("--password <password>", "that user's password (visible to other local users; prefer --password-stdin)")
    .option("--password-stdin", "read that user's password from standard input")
    .option("--timeout <seconds>", "how long an interactive flow waits for the browser", positiveInteger, 300)
    .option("--port <port>", "loopback port of the sample's own web server; 0 picks a free one", nonNegativeInteger, 0)
    .option("--issuer <url>", "the authorization server's address (default: ISSUER)")
    .option("--gateway <url>", "the gateway's address (default: http://HOST:GATEWAY_PORT)")
    .option("--api <identifier>", "ask tokens for this existing API instead of the sample API")
    .option("--path <path>", "gateway: call this existing route of --api (without it the sample adds its own route /gatehouse-sample to the API)")
    .addHelpText("after", NOTES)
    .action(async (name: string | undefined, options: CommandOptions, command: Command) => {
      // The samples (openid-client, xml-crypto, x509) load only for this command, not for every CLI start.
      const { FLOWS, findFlow } = await import("../../samples/index.ts");
      if (name === undefined) {
        const data = FLOWS.map(({ name, grant, interactive, description }) => ({ flow: name, grant, interactive, description }));
        const json = Boolean(command.optsWithGlobals().json);
        printResult({ data, text: () => `${table(data, ["flow", "grant", "description"])}\n\nRun one with: gatehouse sample <flow> (--help for its options)` }, json ? { kind: "json" } : { kind: "text" });
        return;
      }
      const flow = findFlow(name);
      if (!flow) command.error(`unknown flow ${name}: one of ${FLOWS.map((f) => f.name).join(", ")}`);
      await run(command, async ({ config, services }) => {
        if (options.password !== undefined && options.passwordStdin) throw new ValidationError("give --password or --password-stdin, not both");
        const sampleOptions: SampleOptions = {
          username: options.username,
          password: options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : options.password,
          timeoutSeconds: options.timeout,
          port: options.port,
          issuer: options.issuer,
          gateway: options.gateway,
          api: options.api,
          path: options.path,
        };
        const registered: string[] = [];
        const context: SampleContext = {
          services,
          config,
          issuer: (options.issuer ?? config.ISSUER).replace(/\/+$/, ""),
          gatewayUrl: (options.gateway ?? gatewayUrl(config.HOST, config.GATEWAY_PORT)).replace(/\/+$/, ""),
          options: sampleOptions,
          say: (line) => process.stderr.write(`${line}\n`),
          registered: (what) => registered.push(what),
        };
        // A library's error (openid-client, fetch) becomes one line naming what the server answered.
        const report = await flow.run(context).catch((error: unknown) => {
          throw error instanceof SampleError ? error : new SampleError(reason(error));
        });
        const data = { flow: flow.name, grant: flow.grant, registered, ...report };
        return { data, text: () => YAML.stringify(data, { lineWidth: 0 }) };
      });
    });
}
