#!/usr/bin/env node
// Entry point of the `gatehouse` command. Every command is a fresh process that loads both Prisma
// clients; Node's compile cache halves that start-up, and must be on before those modules load.
import module from "node:module";

module.enableCompileCache();
await import("./program.ts");
