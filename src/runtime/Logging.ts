/**
 * Logs are JSON lines on stderr (stdout is for the `ready` line and command output), at the level
 * `RELAY_LOG_LEVEL` names (default info).
 *
 * A hub spawned in the background has its stderr on `hub.log` and says so in `RELAY_LOG_FILE`.
 * Such a hub keeps that file under its cap while it runs: past it, the content is copied to
 * `hub.log.1` (one generation) and the file starts over. Copy and truncate, not rename: stderr stays
 * on `hub.log`, so a crash trace the runtime prints lands where a user looks.
 */
import { Config, Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import { maxHubLogBytes } from "../client/Bootstrap.ts"
import { logLevelFrom } from "../client/RelayEnvironment.ts"

const stderrFd = 2

/** Writes lines to stderr, keeping `file` (which stderr must be) under `maxBytes`; `undefined` if stderr is not that file. */
export const cappedStderr = (file: string, maxBytes: number): ((line: string) => void) | undefined => {
  let size: number
  try {
    const err = fs.fstatSync(stderrFd)
    const onDisk = fs.statSync(file)
    if (!err.isFile() || err.ino !== onDisk.ino || err.dev !== onDisk.dev) return undefined
    size = err.size
  } catch {
    return undefined
  }
  return (line) => {
    const bytes = Buffer.byteLength(line) + 1
    if (size > 0 && size + bytes > maxBytes) {
      try {
        fs.copyFileSync(file, `${file}.1`)
        fs.ftruncateSync(stderrFd, 0)
        size = 0
      } catch {
        // Could not roll over (disk full, say): keep logging rather than lose the line.
      }
    }
    try {
      fs.writeSync(stderrFd, `${line}\n`)
      size += bytes
    } catch {
      // Nowhere to log to: the hub goes on.
    }
  }
}

export const layer = Layer.unwrapEffect(
  Effect.gen(function* () {
    const name = yield* Config.string("RELAY_LOG_LEVEL").pipe(Config.withDefault("info"))
    const level = logLevelFrom(name, LogLevel.Info)
    const file = yield* Config.string("RELAY_LOG_FILE").pipe(Config.withDefault(""))
    const maxBytes = yield* Config.integer("RELAY_LOG_MAX_BYTES").pipe(Config.orElse(() => Config.succeed(maxHubLogBytes)))
    const write = file === "" ? undefined : cappedStderr(file, Math.max(1024, maxBytes))
    const logger = write === undefined ? Logger.withConsoleError(Logger.jsonLogger) : Logger.map(Logger.jsonLogger, write)
    return Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(level))
  }).pipe(Effect.orDie)
)
