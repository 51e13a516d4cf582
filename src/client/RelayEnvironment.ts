/**
 * What every relay process (hub, channel, adapters) reads from its environment the same way: where
 * the machine's hub lives, and how much to log.
 */
import { LogLevel } from "effect"
import * as os from "node:os"
import * as path from "node:path"

export type Env = Readonly<Record<string, string | undefined>>

/** An unset variable and an empty one mean the same: "use the default". */
export const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value

export interface RelayPaths {
  readonly relayHome: string
  readonly socketPath: string
}

/** `RELAY_HOME` (default `~/.relay`: one hub per machine) and `RELAY_HUB_SOCKET` (default `$RELAY_HOME/hub.sock`). */
export const relayPaths = (env: Env, relayHome?: string): RelayPaths => {
  const home = path.resolve(relayHome ?? nonEmpty(env.RELAY_HOME) ?? path.join(os.homedir(), ".relay"))
  return { relayHome: home, socketPath: path.resolve(nonEmpty(env.RELAY_HUB_SOCKET) ?? path.join(home, "hub.sock")) }
}

const levels: Readonly<Record<string, LogLevel.LogLevel>> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

/** `RELAY_LOG_LEVEL` (`debug|info|warning|error|none`); each program picks its own default. */
export const logLevelFrom = (raw: string | undefined, fallback: LogLevel.LogLevel): LogLevel.LogLevel =>
  (raw === undefined ? undefined : levels[raw.trim().toLowerCase()]) ?? fallback
