/**
 * Dialling the hub's loopback WebSocket endpoint, for clients that run inside another program
 * (OpenCode's Bun, Copilot's Node) and speak to the hub the way EcoRelay's OpenCode plugin did.
 *
 * The port and the token are read from the data directory on every attempt, not once: an
 * auto-spawned hub with `RELAY_WS_PORT=auto` takes a new port each time it starts, and a
 * reconnect after a hub restart must find the new one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { type Dial, hubUnreachable, type Wire } from "../client/HubClient.ts"

/** The browser WebSocket API subset we use; Bun and Node ≥ 22 have it globally, `ws` provides it on Node 20. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { readonly data: unknown }) => void) | null
  onclose: ((event: unknown) => void) | null
  onerror: ((event: unknown) => void) | null
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface WebSocketDialOptions {
  /** The hub's data directory: `ws.port` and `ws.token` are read from it. */
  readonly relayHome: string
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Defaults to the global `WebSocket`, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructor | undefined
}

const readTrimmed = (file: string): string | undefined => {
  try {
    const text = fs.readFileSync(file, "utf8").trim()
    return text === "" ? undefined : text
  } catch {
    return undefined
  }
}

/** Where the endpoint is now: the port the hub published, else a numeric `RELAY_WS_PORT`, else the default. */
export const endpointPort = (relayHome: string, env: Readonly<Record<string, string | undefined>>): number | undefined => {
  const published = Number(readTrimmed(path.join(relayHome, "ws.port")))
  if (Number.isInteger(published) && published > 0) return published
  const configured = env.RELAY_WS_PORT?.trim()
  if (configured === undefined || configured === "") return 9376
  const port = Number(configured)
  // `0` (off) and `auto` leave nothing to guess: only the published file can tell.
  return Number.isInteger(port) && port > 0 ? port : undefined
}

export const endpointToken = (relayHome: string, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const configured = env.RELAY_WS_TOKEN?.trim()
  return configured !== undefined && configured !== "" ? configured : readTrimmed(path.join(relayHome, "ws.token"))
}

const loadConstructor = async (given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> => {
  if (given !== undefined) return given
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (global !== undefined) return global
  const module = (await import("ws")) as unknown as { WebSocket: WebSocketConstructor }
  return module.WebSocket
}

const frameText = (data: unknown): string | undefined => {
  if (typeof data === "string") return data
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8")
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8")
  return undefined
}

/** Auth frame first, then one JSON document per text frame out; lines of every text frame in. */
export const dialWebSocket =
  (options: WebSocketDialOptions): Dial =>
  (events) =>
    Effect.gen(function* () {
      const env = options.env ?? process.env
      const port = endpointPort(options.relayHome, env)
      if (port === undefined) return yield* hubUnreachable(`the hub has not published its WebSocket port in ${options.relayHome}/ws.port`)
      const token = endpointToken(options.relayHome, env)
      if (token === undefined) return yield* hubUnreachable(`no WebSocket token: neither RELAY_WS_TOKEN nor ${options.relayHome}/ws.token`)
      const Ctor = yield* Effect.tryPromise({
        try: () => loadConstructor(options.WebSocket),
        catch: (error) => hubUnreachable(`no WebSocket implementation: ${String(error)}`)
      })
      const url = `ws://127.0.0.1:${port}`
      return yield* Effect.async<Wire, ReturnType<typeof hubUnreachable>>((resume) => {
        let opened = false
        let closed = false
        const socket = new Ctor(url)
        const wire: Wire = {
          write: (json) => {
            if (closed || socket.readyState !== 1) return false
            socket.send(json)
            return true
          },
          close: () => socket.close(1000, "client closing")
        }
        socket.onopen = () => {
          opened = true
          socket.send(JSON.stringify({ auth: token }))
          resume(Effect.succeed(wire))
        }
        socket.onmessage = (event) => {
          const text = frameText(event.data)
          if (text === undefined) return
          for (const line of text.split("\n")) {
            const trimmed = line.trim()
            if (trimmed !== "") events.onLine(trimmed)
          }
        }
        socket.onerror = () => {
          if (!opened) resume(Effect.fail(hubUnreachable(`cannot connect to the hub's WebSocket endpoint at ${url}`)))
        }
        socket.onclose = () => {
          if (closed) return
          closed = true
          if (!opened) resume(Effect.fail(hubUnreachable(`the hub's WebSocket endpoint at ${url} closed the connection`)))
          events.onClose()
        }
        return Effect.sync(() => socket.close())
      })
    })
