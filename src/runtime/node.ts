/** The `relay` command on Node (the same program; Node's runtime and WebSocket acceptor). */
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { runCli } from "../cli/Cli.ts"
import * as WebSocketNode from "../transport/WebSocketNode.ts"
import * as Logging from "./Logging.ts"
import { Platform } from "./Platform.ts"

const platform = Platform.of({ name: "node", websocket: WebSocketNode.layer })

runMain(runCli(process.argv.slice(2)).pipe(Effect.provideService(Platform, platform), Effect.provide(Logging.layer)), {
  disablePrettyLogger: true
})
