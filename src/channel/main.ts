/**
 * Entry point of `relay channel` (also `bun src/channel/main.ts`): the MCP server Claude Code starts
 * for each session.
 *
 * stdout belongs to the MCP protocol, so every log line goes to stderr.
 *
 * Environment: `RELAY_HOME` (data directory; else `~/.relay`, the machine's one hub), `RELAY_HUB_SOCKET` (default
 * `$RELAY_HOME/hub.sock`), `RELAY_PEER_ID` (the peer name), `RELAY_AUTOSPAWN=0` (never start a
 * hub), `RELAY_LOG_LEVEL` (`debug`, `info`, `warning`, `error`; default `info`).
 */
import * as os from "node:os"
import { Effect, Logger, LogLevel } from "effect"
import { ensureHub } from "../client/Bootstrap.ts"
import * as HubClient from "../client/HubClient.ts"
import { logLevelFrom, relayPaths } from "../client/RelayEnvironment.ts"
import { serve, serverVersion } from "./Channel.ts"
import { gitBranch, resolveName, sessionFile } from "./Identity.ts"

export const channelProgram = (env: Readonly<Record<string, string | undefined>> = process.env) =>
  Effect.gen(function* () {
    const userHome = os.homedir()
    // One hub per machine, whichever harness starts it: the plugin does not get a hub of its own
    // (OpenCode and Copilot sessions must find the same one). An empty value means "not set".
    const { relayHome, socketPath } = relayPaths(env)
    const cwd = process.cwd()
    const parentPid = process.ppid
    const identity = resolveName({ env, home: userHome, parentPid, cwd })
    yield* Effect.logDebug(`starting as '${identity.name}' (from ${identity.source}); hub socket ${socketPath}`)

    const hubLayer = HubClient.layer({
      socketPath,
      name: identity.name,
      cwd,
      gitBranch: gitBranch(cwd),
      clientName: `relay-channel/${serverVersion}`,
      ensureHub: env.RELAY_AUTOSPAWN === "0" ? undefined : ensureHub({ socketPath, home: relayHome, env: { ...env, RELAY_HOME: relayHome } })
    })

    return yield* serve({
      stdin: process.stdin,
      stdout: process.stdout,
      // A peer named by RELAY_PEER_ID keeps that name whatever the session is called.
      sessionFile: identity.source === "env" ? undefined : sessionFile(userHome, parentPid),
      initialSessionSlug: identity.source === "session" ? identity.name : undefined,
      parentPid,
      currentParentPid: () => process.ppid,
      pollInterval: `${Number(env.RELAY_SESSION_POLL_MS ?? 2000)} millis`
    }).pipe(Effect.scoped, Effect.provide(hubLayer))
  }).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
    Logger.withMinimumLogLevel(logLevelFrom(env.RELAY_LOG_LEVEL, LogLevel.Info))
  )

/** Runs the channel until Claude Code goes away. */
export const runChannel = (): Promise<void> =>
  Effect.runPromise(channelProgram().pipe(Effect.asVoid))

const stop = (code: number) => {
  // stdout may still hold the last notification; let it drain before leaving.
  process.stdout.write("", () => process.exit(code))
}

if (import.meta.main) {
  process.on("SIGTERM", () => stop(0))
  process.on("SIGINT", () => stop(0))
  runChannel().then(
    () => stop(0),
    (error) => {
      console.error(error)
      stop(1)
    }
  )
}
