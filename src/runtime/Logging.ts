/**
 * Logs are JSON lines on stderr (stdout is for the `ready` line and command output), at the level
 * `RELAY_LOG_LEVEL` names (default info).
 */
import { Config, Effect, Layer, Logger, LogLevel } from "effect"
import { logLevelFrom } from "../client/RelayEnvironment.ts"

export const layer = Layer.unwrapEffect(
  Effect.gen(function* () {
    const name = yield* Config.string("RELAY_LOG_LEVEL").pipe(Config.withDefault("info"))
    const level = logLevelFrom(name, LogLevel.Info)
    return Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.jsonLogger)),
      Logger.minimumLogLevel(level)
    )
  }).pipe(Effect.orDie)
)
