/**
 * The WebSocket endpoint, over a real socket: the same checks against the Node acceptor (in-process
 * hub) and the Bun acceptor (the real `relay hub` process), then what only an in-process hub can
 * show (idle exit bookkeeping, a tiny outbound cap).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Duration, Effect, Logger, Option } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Hub } from "../../src/hub/Hub.ts"
import { makeAuthFailureLog } from "../../src/transport/WebSocketAuth.ts"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { readWebSocketEndpoint, startInProcessHub, startProcessHub, type TestHub } from "../support/TestHub.ts"
import { WsClient } from "../support/WsClient.ts"

interface Endpoint {
  readonly hub: TestHub
  readonly url: string
  readonly token: string
}

const kinds: ReadonlyArray<[string, (authTimeout: string) => Promise<Endpoint>]> = [
  [
    "Node acceptor (in-process hub)",
    async (authTimeout) => {
      const hub = await startInProcessHub({ authTimeout: Duration.decode(authTimeout as Duration.DurationInput) }, { websocket: true })
      return { hub, url: hub.websocket!.url, token: hub.websocket!.token }
    }
  ],
  [
    "Bun acceptor (relay hub process)",
    async (authTimeout) => {
      const hub = await startProcessHub({ env: { RELAY_WS_PORT: "auto", RELAY_AUTH_TIMEOUT: authTimeout } })
      const { url, token } = readWebSocketEndpoint(hub.dataDir)
      return { hub, url, token }
    }
  ]
]

const httpGet = (url: string, headers: Record<string, string> = {}) =>
  fetch(url.replace("ws://", "http://"), { headers }).then(async (r) => ({ status: r.status, body: await r.text() }))

describe.each(kinds)("WebSocket endpoint — %s", (_, start) => {
  let endpoint: Endpoint
  const clients: Array<{ close(): void }> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await endpoint?.hub.stop()
  })
  const open = async (...args: Parameters<typeof WsClient.connect>) => {
    const client = await WsClient.connect(...args)
    clients.push(client)
    return client
  }

  it("accepts the right token, then speaks the protocol, several lines per frame", async () => {
    endpoint = await start("500 millis")
    const a = await open(endpoint.url, endpoint.token)
    expect(await a.register("ws-alice")).toEqual({ type: "ack", req_id: "w1" })
    a.writeRaw('{"type":"ping","req_id":"p1"}\n{"type":"list_peers","req_id":"l1"}')
    await a.waitFor((f) => f.req_id === "l1")
    expect(a.frames.map((f) => f.req_id)).toEqual(["w1", "p1", "l1"])
  })

  it("refuses a wrong, a malformed and a missing auth frame with 4003 auth_failed", async () => {
    endpoint = await start("2 seconds")
    const wrong = await open(endpoint.url, endpoint.token, { auth: JSON.stringify({ auth: "not-the-token" }) })
    const malformed = await open(endpoint.url, endpoint.token, { auth: "{auth: nope" })
    const missing = await open(endpoint.url, endpoint.token, {
      auth: JSON.stringify({ type: "register", name: "sneaky", protocol_version: "5" })
    })
    for (const client of [wrong, malformed, missing]) {
      await client.waitClosed()
      expect([client.closeCode, client.closeReason]).toEqual([4003, "auth_failed"])
      expect(client.frames).toEqual([])
    }
    // None of them got anywhere: the name is free.
    const ok = await open(endpoint.url, endpoint.token)
    expect(await ok.register("sneaky")).toMatchObject({ type: "ack" })
  })

  it("closes a client that does not authenticate in time with 4003 auth_timeout", async () => {
    endpoint = await start("300 millis")
    const slow = await open(endpoint.url, endpoint.token, { auth: false })
    await slow.waitClosed(5000)
    expect([slow.closeCode, slow.closeReason]).toEqual([4003, "auth_timeout"])
  })

  it("refuses a foreign browser Origin, allows a loopback one, answers plain HTTP with 426", async () => {
    endpoint = await start("1 second")
    await expect(WsClient.connect(endpoint.url, endpoint.token, { headers: { origin: "https://evil.example" } })).rejects.toThrow(
      "HTTP 403"
    )
    const local = await open(endpoint.url, endpoint.token, { headers: { origin: "http://localhost:3000" } })
    expect(await local.register("browser-tab")).toMatchObject({ type: "ack" })
    const plain = await httpGet(endpoint.url)
    expect(plain.status).toBe(426)
    expect(plain.body).toContain("auth")
  })

  it("carries direct messages between a WebSocket peer and a Unix-socket peer, both ways", async () => {
    endpoint = await start("1 second")
    const ws = await open(endpoint.url, endpoint.token)
    const unix = await NdjsonClient.connect(endpoint.hub.socketPath)
    clients.push(unix)
    await ws.register("ws-peer")
    await unix.register("unix-peer")
    const toUnix = await ws.request({ type: "send", to: "unix-peer", text: "from ws" })
    expect(toUnix).toMatchObject({ type: "send_ack", status: "delivered" })
    expect(await unix.waitFor((f) => f.type === "incoming_message")).toMatchObject({ from: "ws-peer", text: "from ws" })
    const toWs = await unix.request({ type: "send", to: "ws-peer", text: "from unix" })
    expect(toWs).toMatchObject({ type: "send_ack", status: "delivered" })
    expect(await ws.waitFor((f) => f.type === "incoming_message")).toMatchObject({ from: "unix-peer", text: "from unix" })
  })

  it("answers a frame over 1 MiB with err bad_msg and closes only that connection", async () => {
    endpoint = await start("1 second")
    const big = await open(endpoint.url, endpoint.token)
    const other = await open(endpoint.url, endpoint.token)
    await big.register("big")
    await other.register("other")
    big.writeRaw(JSON.stringify({ type: "ping", req_id: "x", pad: "a".repeat(1_048_576) }))
    await big.waitClosed()
    expect(big.frames.at(-1)).toMatchObject({ type: "err", code: "bad_msg" })
    expect(await other.request({ type: "ping" })).toMatchObject({ type: "pong" })
  })
})

describe("WebSocket endpoint — in-process only", () => {
  const clients: Array<{ close(): void }> = []
  let hub: Awaited<ReturnType<typeof startInProcessHub>> | undefined
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await hub?.stop()
    hub = undefined
  })

  it("keeps the token in a 0600 file that a restart reuses, and honours a configured token", async () => {
    hub = await startInProcessHub({}, { websocket: true })
    const file = path.join(hub.dataDir, "ws.token")
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.readFileSync(file, "utf8").trim()).toBe(hub.websocket!.token)
    expect(hub.websocket!.token).toMatch(/^[0-9a-f]{64}$/)
    const dataDir = hub.dataDir
    const first = hub.websocket!.token
    await hub.stop()
    hub = await startInProcessHub({ dataDir }, { websocket: true })
    expect(hub.websocket!.token).toBe(first)
    await hub.stop()
    hub = await startInProcessHub({ websocketToken: Option.some("configured-token-123") }, { websocket: true })
    const client = await WsClient.connect(hub.websocket!.url, "configured-token-123")
    clients.push(client)
    expect(await client.register("configured")).toMatchObject({ type: "ack" })
  })

  it("counts WebSocket peers for idle exit: connected keeps the hub, gone lets it go", async () => {
    hub = await startInProcessHub({ idleExit: Option.some(Duration.millis(300)) }, { websocket: true })
    const client = await WsClient.connect(hub.websocket!.url, hub.websocket!.token)
    await client.register("only-ws")
    const idleWhileConnected = await hub.runtime.runPromise(
      Effect.flatMap(Hub, (h) => h.awaitIdle.pipe(Effect.timeout(Duration.millis(900)), Effect.option))
    )
    expect(Option.isNone(idleWhileConnected)).toBe(true)
    client.close()
    const idleAfter = await hub.runtime.runPromise(
      Effect.flatMap(Hub, (h) => h.awaitIdle.pipe(Effect.timeout(Duration.seconds(5)), Effect.option))
    )
    expect(Option.isSome(idleAfter)).toBe(true)
  })

  it("disconnects a WebSocket consumer that stops reading, while others keep being answered", async () => {
    hub = await startInProcessHub({ maxOutboundBytes: 256 * 1024 }, { websocket: true })
    const { url, token } = hub.websocket!
    const slow = await WsClient.connect(url, token)
    const producer = await WsClient.connect(url, token)
    const bystander = await NdjsonClient.connect(hub.socketPath)
    clients.push(slow, producer, bystander)
    await slow.register("slow")
    await producer.register("producer")
    await bystander.register("bystander")
    expect(await slow.request({ type: "join_room", room: "flood" })).toMatchObject({ type: "room_ack" })
    // Stop reading: the kernel buffers fill, then the hub's outbound cap for `slow` is passed.
    ;(slow.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    const text = "x".repeat(16 * 1024)
    let delivered = 1
    for (let i = 0; i < 400 && delivered > 0; i++) {
      const ack = await producer.request({ type: "room_msg", room: "flood", text })
      delivered = ack.delivered_count as number
    }
    expect(delivered).toBe(0)
    expect(await bystander.request({ type: "list_peers" })).toMatchObject({ type: "peers" })
    const names = (await bystander.request({ type: "list_peers" })).peers.map((p: { name: string }) => p.name)
    expect(names).not.toContain("slow")
  })
})

describe("WebSocket endpoint — a taken port", () => {
  it("does not stop a second hub: it serves its Unix socket and says why it has no WebSocket endpoint", async () => {
    const first = await startProcessHub({ env: { RELAY_WS_PORT: "auto" } })
    const second = await startProcessHub({ env: { RELAY_WS_PORT: String(readWebSocketEndpoint(first.dataDir).port) } }).catch(
      async (error) => {
        await first.stop()
        throw error
      }
    )
    try {
      expect(second.stderr()).toContain("WebSocket endpoint not started")
      expect(second.stderr()).toContain("RELAY_WS_PORT")
      expect(fs.existsSync(path.join(second.dataDir, "ws.port"))).toBe(false)
      const client = await NdjsonClient.connect(second.socketPath)
      expect(await client.register("still-served")).toMatchObject({ type: "ack" })
      client.close()
    } finally {
      await second.stop()
      await first.stop()
    }
  })
})

describe("E4: a wrong-token storm", () => {
  it("refuses every attempt with 4003 while a good client is served, and logs a bounded summary", async () => {
    const hub = await startInProcessHub({}, { websocket: true })
    try {
      const { url, token } = hub.websocket!
      const attempts = await Promise.all(
        Array.from({ length: 200 }, (_, i) => WsClient.connect(url, token, { auth: JSON.stringify({ auth: `guess-${i}` }) }))
      )
      await Promise.all(attempts.map((client) => client.waitClosed(10_000)))
      expect(new Set(attempts.map((client) => `${client.closeCode} ${client.closeReason}`))).toEqual(new Set(["4003 auth_failed"]))
      const good = await WsClient.connect(url, token)
      expect(await good.register("after-the-storm")).toMatchObject({ type: "ack" })
      good.close()
    } finally {
      await hub.stop()
    }
  })

  it("the refusal log is rate-limited: a burst becomes one line carrying the count", async () => {
    const lines: Array<unknown> = []
    const logger = Logger.make(({ message }) => lines.push(message))
    const log = makeAuthFailureLog()
    await Effect.runPromise(
      Effect.forEach(Array.from({ length: 500 }), () => log("wrong or malformed auth frame")).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
    )
    expect(lines).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 1100))
    await Effect.runPromise(log("wrong or malformed auth frame").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    expect(lines).toHaveLength(2)
    // The second line accounts for everything refused since the first.
    expect(JSON.stringify(lines[1])).toContain('"count":500')
  })
})
