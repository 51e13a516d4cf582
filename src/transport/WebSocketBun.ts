/**
 * The WebSocket acceptor on Bun: `Bun.serve`, loopback only. Bun's `send` reports backpressure and
 * drops explicitly (it returns 0 past `backpressureLimit`), so a frame is never lost unnoticed: a
 * refused frame closes the connection as a slow consumer, and its direct messages wait in the store.
 */
import { Effect, Layer } from "effect"
import type { ServerWebSocket } from "bun"
import { type FrameConnection, makeFrameConnection } from "./FrameConnection.ts"
import { checkAuthFrame, CloseCodes, isAllowedOrigin } from "./WebSocketAuth.ts"
import {
  maxFrameBytes,
  maxQueuedBytes,
  maxQueuedFrames,
  prepareEndpoint,
  publishPort,
  refuseOversized,
  serveFrames,
  upgradeRequired,
  WebSocketEndpoint,
  WebSocketListenError
} from "./WebSocketEndpoint.ts"

interface ClientState {
  connection: FrameConnection | undefined
  timer: ReturnType<typeof setTimeout> | undefined
}


export const layer = Layer.scoped(
  WebSocketEndpoint,
  Effect.gen(function* () {
    const { authTimeout, config, hub, port, refused, run, token } = yield* prepareEndpoint

    const authenticate = (ws: ServerWebSocket<ClientState>, text: string) => {
      clearTimeout(ws.data.timer)
      if (!checkAuthFrame(text, token)) {
        ws.close(CloseCodes.authFailed, "auth_failed")
        run(refused("wrong or malformed auth frame"))
        return
      }
      const connection = makeFrameConnection(
        {
          // -1: queued behind backpressure (still within the limit); 0: dropped.
          send: (frame) => ws.send(frame) !== 0,
          bufferedAmount: () => ws.getBufferedAmount(),
          close: (code, reason) => ws.close(code, reason)
        },
        { transport: "websocket", maxOutboundBytes: config.maxOutboundBytes, maxQueuedFrames, maxQueuedBytes }
      )
      ws.data.connection = connection
      run(serveFrames(connection))
    }

    const server = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          Bun.serve<ClientState, never>({
            hostname: "127.0.0.1",
            port,
            fetch(request, srv) {
              if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
                return new Response(upgradeRequired, { status: 426, headers: { upgrade: "websocket" } })
              }
              if (!isAllowedOrigin(request.headers.get("origin"))) {
                run(refused("foreign origin"))
                return new Response("foreign Origin refused\n", { status: 403 })
              }
              if (hub.connectionCount() >= config.maxConnections) return new Response("hub is full\n", { status: 503 })
              if (srv.upgrade(request, { data: { connection: undefined, timer: undefined } })) return undefined
              return new Response("WebSocket upgrade failed\n", { status: 400 })
            },
            websocket: {
              maxPayloadLength: maxFrameBytes * 2,
              backpressureLimit: config.maxOutboundBytes,
              closeOnBackpressureLimit: true,
              open(ws) {
                ws.data.timer = setTimeout(() => {
                  ws.close(CloseCodes.authFailed, "auth_timeout")
                  run(refused("auth timeout"))
                }, authTimeout)
              },
              message(ws, message) {
                const text = typeof message === "string" ? message : ""
                const connection = ws.data.connection
                if (connection === undefined) return authenticate(ws, text)
                if (!refuseOversized(connection, text)) connection.receive(text)
              },
              close(ws) {
                clearTimeout(ws.data.timer)
                ws.data.connection?.closed()
              }
            }
          }),
        catch: (error) => error as Error
      }),
      (srv) => Effect.sync(() => srv.stop(true))
    ).pipe(
      Effect.mapError((error) => new WebSocketListenError({ port, reason: error.message }))
    )
    const address = server.port ?? port
    yield* publishPort(config.dataDir, address)
    yield* Effect.logInfo("listening", { transport: "websocket", port: address })
    return WebSocketEndpoint.of({ port: address, url: `ws://127.0.0.1:${address}`, token })
  })
)
