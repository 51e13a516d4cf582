/**
 * `relay hub`: the hub as a process. Provides the library layers, announces `ready` on stdout once
 * the socket listens, and runs until SIGTERM/SIGINT (handled by the platform's `runMain`), `relay
 * stop`, or the idle-exit period. Every exit path closes the layers, which removes the socket.
 */
import { Console, Duration, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ensurePrivateDir } from "../hub/DataDir.ts"
import { Hub } from "../hub/Hub.ts"
import { HubConfig } from "../hub/HubConfig.ts"
import { hubWithStore } from "../hub/HubWithStore.ts"
import * as UnixSocket from "../transport/UnixSocket.ts"
import { Platform } from "./Platform.ts"

export interface HubDaemonOptions {
  readonly idleExit: Option.Option<Duration.Duration>
}

/** The data directory exists (0700) before the store opens its file in it. */
const DataDirReady = Layer.effectDiscard(Effect.flatMap(HubConfig, (config) => ensurePrivateDir(config.dataDir)))

export const pidFilePath = (dataDir: string) => path.join(dataDir, "hub.pid")

export const hubProgram = (options: HubDaemonOptions) =>
  Effect.gen(function* () {
    // Whatever the hub creates (socket, database, its WAL files, tokens) is private to the user.
    process.umask(0o077)
    const config = yield* HubConfig
    yield* ensurePrivateDir(config.dataDir)
    const hub = yield* Hub
    const pidFile = pidFilePath(config.dataDir)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 })
        // `mode` only applies to a new file; one left behind by someone else keeps its own.
        fs.chmodSync(pidFile, 0o600)
      }),
      () =>
        // `try`, not `sync`: a pid file removed meanwhile throws, and `ignore` does not catch defects.
        Effect.try(() => {
          const owner = fs.readFileSync(pidFile, { encoding: "utf8", flag: "r" }).trim()
          if (owner === String(process.pid)) fs.rmSync(pidFile, { force: true })
        }).pipe(Effect.ignore)
    )
    const idle = Option.match(options.idleExit, {
      onNone: () => "off",
      onSome: (d) => Duration.format(d)
    })
    yield* Console.log(`relay hub ready: socket ${config.socketPath}, pid ${process.pid}, idle exit ${idle}`)
    const reason = yield* Effect.raceFirst(
      Effect.as(hub.awaitIdle, "idle exit"),
      Effect.as(hub.awaitStopRequest, "stop requested")
    ).pipe(Effect.onInterrupt(() => Effect.logInfo("hub stopping", { reason: "signal" })))
    yield* Effect.logInfo("hub stopping", { reason })
  }).pipe(Effect.scoped)

/** The layers of a standalone hub: config from the environment, the store, the hub, its transports. */
export const hubDaemonLayer = (options: HubDaemonOptions, websocket: Layer.Layer<never, never, Hub | HubConfig>) => {
  const config = HubConfig.layerFromEnv({ idleExit: options.idleExit })
  const transports = Layer.merge(UnixSocket.layer, websocket)
  return transports.pipe(Layer.provideMerge(hubWithStore), Layer.provideMerge(DataDirReady), Layer.provideMerge(config))
}

export const runHubDaemon = (options: HubDaemonOptions) =>
  Effect.gen(function* () {
    const platform = yield* Platform
    // The endpoint is optional (RELAY_WS_PORT=0): decide once the configuration is known.
    const websocket = Layer.unwrapEffect(
      Effect.map(HubConfig, (config) =>
        Option.isSome(config.websocketPort)
          ? // A taken port (another hub, another data directory) costs the WebSocket clients, not the hub.
            Layer.discard(platform.websocket).pipe(
              Layer.catchAll((error) => Layer.effectDiscard(Effect.logWarning("WebSocket endpoint not started", { reason: error.message })))
            )
          : Layer.empty
      )
    )
    yield* hubProgram(options).pipe(Effect.provide(hubDaemonLayer(options, websocket)))
  })
