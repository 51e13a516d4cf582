/** The `relay` command on Bun (how it ships). Deep import: the platform barrel loads far more. */
import { runMain } from "@effect/platform-bun/BunRuntime"
import { Effect } from "effect"
import { runCli } from "../cli/Cli.ts"
import * as Logging from "./Logging.ts"

runMain(runCli(process.argv.slice(2)).pipe(Effect.provide(Logging.layer)), { disablePrettyLogger: true })
