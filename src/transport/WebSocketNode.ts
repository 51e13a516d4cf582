/**
 * The WebSocket acceptor on Node: `node:http` + `ws`, loopback only. (Bun's own acceptor is in
 * `WebSocketBun.ts`; both give the hub the same `Connection`s.)
 */
import { Effect, Layer } from "effect"
import * as http from "node:http"
import { WebSocketServer, type WebSocket } from "ws"
import { makeFrameConnection } from "./FrameConnection.ts"
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


export const layer = Layer.scoped(
  WebSocketEndpoint,
  Effect.gen(function* () {
    const { authTimeout, config, hub, port, refused, run, token } = yield* prepareEndpoint

    const server = http.createServer((_, response) => {
      response.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" }).end(upgradeRequired)
    })
    // A little over the frame cap, so an oversized frame still gets our own `err` before closing.
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes * 2 })

    server.on("upgrade", (request, socket, head) => {
      if (!isAllowedOrigin(request.headers.origin)) {
        socket.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nforeign Origin refused\n")
        run(refused("foreign origin"))
        return
      }
      if (hub.connectionCount() >= config.maxConnections) {
        socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n")
        return
      }
      wss.handleUpgrade(request, socket, head, (ws) => accept(ws))
    })

    const accept = (ws: WebSocket) => {
      const timer = setTimeout(() => {
        ws.close(CloseCodes.authFailed, "auth_timeout")
        run(refused("auth timeout"))
      }, authTimeout)
      ws.once("message", (data, isBinary) => {
        clearTimeout(timer)
        if (isBinary || !checkAuthFrame(data.toString(), token)) {
          ws.close(CloseCodes.authFailed, "auth_failed")
          run(refused("wrong or malformed auth frame"))
          return
        }
        const connection = makeFrameConnection(
          {
            // A closing socket would take the frame and never deliver it: say so instead.
            send: (text) => {
              if (ws.readyState !== ws.OPEN) return false
              ws.send(text)
              return true
            },
            bufferedAmount: () => ws.bufferedAmount,
            close: (code, reason) => ws.close(code, reason)
          },
          { transport: "websocket", maxOutboundBytes: config.maxOutboundBytes, maxQueuedFrames, maxQueuedBytes }
        )
        ws.on("message", (message, binary) => {
          const text = binary ? "" : message.toString()
          if (!refuseOversized(connection, text)) connection.receive(text)
        })
        ws.on("close", () => connection.closed())
        run(serveFrames(connection))
      })
      ws.on("close", () => clearTimeout(timer))
      ws.on("error", () => {})
    }

    const address = yield* Effect.acquireRelease(
      Effect.async<number, Error>((resume) => {
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
      }),
      () =>
        Effect.sync(() => {
          for (const client of wss.clients) client.close(CloseCodes.stopping, "hub stopping")
          wss.close()
          server.close()
          server.closeAllConnections()
        })
    ).pipe(
      Effect.mapError((error) => new WebSocketListenError({ port, reason: error.message }))
    )
    yield* publishPort(config.dataDir, address)
    yield* Effect.logInfo("listening", { transport: "websocket", port: address })
    return WebSocketEndpoint.of({ port: address, url: `ws://127.0.0.1:${address}`, token })
  })
)
