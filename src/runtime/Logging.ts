/**
 * Logs are JSON lines on stderr (stdout is for the `ready` line and command output), at the level
 * `RELAY_LOG_LEVEL` names (default info).
 */
import { Config, Effect, Layer, Logger, LogLevel } from "effect"

const levels: Record<string, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

export const layer = Layer.unwrapEffect(
  Effect.gen(function* () {
    const name = yield* Config.string("RELAY_LOG_LEVEL").pipe(Config.withDefault("info"))
    const level = levels[name.toLowerCase()] ?? LogLevel.Info
    return Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.jsonLogger)),
      Logger.minimumLogLevel(level)
    )
  }).pipe(Effect.orDie)
)
