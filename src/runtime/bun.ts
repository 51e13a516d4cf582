/** The `relay` command on Bun (how it ships). Deep import: the platform barrel loads far more. */
import { runMain } from "@effect/platform-bun/BunRuntime"
import { Effect } from "effect"
import { runCli } from "../cli/Cli.ts"
import * as WebSocketBun from "../transport/WebSocketBun.ts"
import * as Logging from "./Logging.ts"
import { Platform } from "./Platform.ts"

const platform = Platform.of({ name: "bun", websocket: WebSocketBun.layer })

runMain(runCli(process.argv.slice(2)).pipe(Effect.provideService(Platform, platform), Effect.provide(Logging.layer)), {
  disablePrettyLogger: true
})
