/**
 * The hub's loopback WebSocket endpoint as the rest of the program sees it, whichever acceptor
 * (Bun's or Node's) serves it.
 */
import { Context, Data, Duration, Effect, FiberSet, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { encodeFrame, errFrame } from "../protocol/Encode.ts"
import { Limits } from "../protocol/Limits.ts"
import { Hub } from "../hub/Hub.ts"
import { HubConfig } from "../hub/HubConfig.ts"
import { loadOrCreateToken, makeAuthFailureLog } from "./WebSocketAuth.ts"
import type { FrameConnection } from "./FrameConnection.ts"

export class WebSocketEndpoint extends Context.Tag("relay/WebSocketEndpoint")<
  WebSocketEndpoint,
  { readonly port: number; readonly url: string; readonly token: string }
>() {}

/** The port is taken (often: another hub with another data directory) or cannot be bound. */
export class WebSocketListenError extends Data.TaggedError("WebSocketListenError")<{
  readonly port: number
  readonly reason: string
}> {
  override get message() {
    return `cannot listen for WebSocket clients on 127.0.0.1:${this.port} (${this.reason}); set RELAY_WS_PORT to a free port, auto, or 0 to turn the endpoint off`
  }
}

export const portFilePath = (dataDir: string) => path.join(dataDir, "ws.port")

/**
 * Publishes the bound port in `<dataDir>/ws.port` (0600) for clients to find, and removes it when
 * the endpoint closes.
 */
export const publishPort = (dataDir: string, port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.writeFileSync(portFilePath(dataDir), `${port}\n`, { mode: 0o600 })),
    () => Effect.sync(() => fs.rmSync(portFilePath(dataDir), { force: true }))
  )

export const upgradeRequired =
  "this is the relay hub's WebSocket endpoint: connect with a WebSocket client and send {\"auth\":\"<token>\"} first\n"

/** What both acceptors start from: the port to bind, the token, a runtime for connection fibers. */
export const prepareEndpoint = Effect.gen(function* () {
  const hub = yield* Hub
  const config = yield* HubConfig
  return {
    hub,
    config,
    port: Option.getOrElse(config.websocketPort, () => 0),
    token: yield* loadOrCreateToken(config.dataDir, Option.getOrUndefined(config.websocketToken)),
    run: yield* FiberSet.makeRuntime<Hub>(),
    refused: makeAuthFailureLog(),
    authTimeout: Duration.toMillis(config.authTimeout)
  }
})

/** Frames a client may send ahead of the hub's answers before it is cut off. */
export const maxQueuedFrames = 1024

/** And bytes: 1,024 frames of a megabyte each would otherwise be a gigabyte per connection. */
export const maxQueuedBytes = 8 * 1024 * 1024

/** Bytes a frame may carry: a line, or several lines adding up to no more than one line's cap. */
export const maxFrameBytes = Limits.maxLineBytes

/** A frame over the cap gets the same answer as an over-long line on the Unix socket. */
export const refuseOversized = (connection: FrameConnection, text: string): boolean => {
  if (text.length <= maxFrameBytes) return false
  connection.send(encodeFrame(errFrame("bad_msg", `frame too long: the limit is ${maxFrameBytes} bytes; connection closed`, undefined)))
  connection.close("frame too long")
  return true
}

/** Runs an authenticated connection through the hub and logs how it ended. */
export const serveFrames = (connection: FrameConnection) =>
  Effect.flatMap(Hub, (hub) => hub.serve(connection)).pipe(
    Effect.zipRight(
      Effect.suspend(() => {
        const reason = connection.closeReason()
        return reason === undefined || reason === "session ended"
          ? Effect.logDebug("connection closed")
          : Effect.logWarning("connection closed", { reason })
      })
    ),
    Effect.annotateLogs({ transport: connection.transport, connection: connection.id })
  )
