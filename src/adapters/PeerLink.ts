/**
 * One relay peer owned by a host that speaks promises (an OpenCode plugin, a Copilot extension).
 *
 * It wraps the same `HubClient` the Claude Code channel uses — registration with `-2`, `-3`, …,
 * liveness pings, reconnect with backoff, hub auto-spawn — here dialled over the hub's WebSocket
 * endpoint, runs the shared relay tools on it, and hands every push to the host as the shared
 * untrusted-peer text. A direct message is confirmed to the hub (`deliver_ack`) only once the host
 * says it reached the session, so a push the host could not show stays unread for `relay_inbox`.
 */
import { type Duration, Effect, Exit, Logger, LogLevel, Scope, Stream } from "effect"
import { ensureHub, hubCommand } from "../client/Bootstrap.ts"
import * as HubClient from "../client/HubClient.ts"
import { type Env, logLevelFrom, relayPaths } from "../client/RelayEnvironment.ts"
import { fromPush, type PeerPush } from "../tools/PeerContent.ts"
import { relayTools } from "../tools/RelayTools.ts"
import { runTool, type Tool } from "../tools/Tool.ts"
import { dialWebSocket, type WebSocketConstructor } from "./WebSocketDial.ts"

export interface PeerLinkOptions {
  readonly name: string
  readonly cwd: string
  readonly gitBranch?: string | undefined
  readonly clientName: string
  readonly env: Env
  /** Overrides `RELAY_HOME`. */
  readonly relayHome?: string | undefined
  /** The command that starts a hub; default `bin/relay hub --idle-exit 10s` of this checkout. */
  readonly hubCommand?: ReadonlyArray<string> | undefined
  readonly WebSocket?: WebSocketConstructor | undefined
  /**
   * Shows one push in the session. Resolves `true` once it is there (then direct messages are
   * confirmed to the hub), `false` when it could not be shown.
   */
  readonly deliver: (push: PeerPush, frame: HubClient.HubFrame) => Promise<boolean>
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly backoffMax?: Duration.DurationInput | undefined
}

/** A tool call's outcome as the JSON text every harness shows the model. */
export interface ToolOutcome {
  readonly ok: boolean
  readonly text: string
}

export interface PeerLink {
  /** The name the peer is registered under now. */
  readonly name: () => Promise<string>
  /** Resolves once registered; rejects after `timeoutMs` without a hub. */
  readonly ready: (timeoutMs?: number) => Promise<string>
  readonly callTool: (name: string, args: unknown) => Promise<ToolOutcome>
  /** Disconnects from the hub; later calls fail. Idempotent. */
  readonly close: () => Promise<void>
}

/**
 * Opens the peer; registration happens in the background (tool calls made meanwhile wait for it a
 * little, as in the channel). Logs go to stderr, at `RELAY_LOG_LEVEL` (default warning): a host's
 * stdout may be its protocol.
 */
export const openPeerLink = async (options: PeerLinkOptions): Promise<PeerLink> => {
  const paths = relayPaths(options.env, options.relayHome)
  const tools = options.tools ?? relayTools
  const logging = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))
  const level = logLevelFrom(options.env.RELAY_LOG_LEVEL, LogLevel.Warning)
  const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
    Effect.runPromise(effect.pipe(Effect.provide(logging), Logger.withMinimumLogLevel(level)))

  const scope = await run(Scope.make())
  const client = await run(
    HubClient.make({
      socketPath: paths.socketPath,
      dial: dialWebSocket({ relayHome: paths.relayHome, env: options.env, WebSocket: options.WebSocket }),
      name: options.name,
      cwd: options.cwd,
      gitBranch: options.gitBranch,
      clientName: options.clientName,
      backoffMax: options.backoffMax,
      ensureHub:
        options.env.RELAY_AUTOSPAWN === "0"
          ? undefined
          : ensureHub({
              socketPath: paths.socketPath,
              home: paths.relayHome,
              command: options.hubCommand ?? hubCommand(),
              env: { ...options.env, RELAY_HOME: paths.relayHome }
            })
    }).pipe(Scope.extend(scope))
  )

  const forward = client.pushes.pipe(
    Stream.runForEach((frame) =>
      Effect.gen(function* () {
        const push = fromPush(frame)
        if (push === undefined) return
        const shown = yield* Effect.tryPromise(() => options.deliver(push, frame)).pipe(
          Effect.catchAll((error) => Effect.logWarning(`could not show a ${frame.type} in the session: ${String(error.error)}`).pipe(Effect.as(false)))
        )
        if (shown && push.deliveredIds.length > 0) {
          yield* client.request({ type: "deliver_ack", msg_ids: push.deliveredIds }).pipe(
            Effect.catchAll((error) => Effect.logDebug(`deliver_ack not confirmed: ${error.code}`))
          )
        }
      })
    )
  )
  await run(Effect.forkIn(forward, scope).pipe(Effect.asVoid))

  let closed: Promise<void> | undefined
  return {
    name: () => run(client.name),
    ready: (timeoutMs = 15_000) => run(client.awaitReady(`${timeoutMs} millis`).pipe(Effect.zipRight(client.name))),
    callTool: (name, args) =>
      run(
        runTool(tools, name, args).pipe(
          Effect.provideService(HubClient.HubClient, client),
          Effect.exit,
          Effect.map((exit) =>
            Exit.match(exit, {
              onSuccess: (value) => ({ ok: true, text: JSON.stringify(value) }),
              onFailure: (cause) => {
                const failure = cause._tag === "Fail" ? cause.error : { code: "unexpected", message: "the tool failed unexpectedly" }
                return { ok: false, text: JSON.stringify({ ok: false, code: failure.code, message: failure.message }) }
              }
            })
          )
        )
      ),
    close: () => (closed ??= run(Scope.close(scope, Exit.void)))
  }
}
