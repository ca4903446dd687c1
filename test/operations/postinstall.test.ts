// npm's postinstall generates the Prisma clients only when they are not already generated from the
// current schemas: `npx gatehouse` in the project runs the postinstall again (npm exec installs the
// project itself), and regenerating rewrote the clients under Gatehouse processes that were starting
// ("Cannot find module .../generated/postgresql/client.ts"; the README test's `npx gatehouse` did it
// to the rest of the suite).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const GENERATED = path.join(ROOT, "src/storage/generated");
const CLIENTS = ["sqlite", "postgresql"].map((kind) => path.join(GENERATED, kind, "client.ts"));

test("the postinstall leaves current Prisma clients alone", () => {
  if (!fs.existsSync(path.join(GENERATED, ".generated-from"))) {
    throw new Error("src/storage/generated has no .generated-from stamp: run npm install once (its postinstall writes it)");
  }
  const before = CLIENTS.map((file) => fs.statSync(file).mtimeMs);
  const output = execFileSync("npm", ["run", "-s", "postinstall"], { cwd: ROOT, encoding: "utf8" });
  expect(output).toContain("already generated");
  expect(CLIENTS.map((file) => fs.statSync(file).mtimeMs)).toEqual(before);
});
