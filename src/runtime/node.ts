/** The `relay` command on Node (the same program; Node's runtime instead of Bun's). */
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { runCli } from "../cli/Cli.ts"
import * as Logging from "./Logging.ts"

runMain(runCli(process.argv.slice(2)).pipe(Effect.provide(Logging.layer)), { disablePrettyLogger: true })
