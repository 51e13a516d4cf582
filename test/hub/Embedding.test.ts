/**
 * The hub as a library: another Effect program provides the hub's layer through `ManagedRuntime`
 * (the way an embedding app does) and uses its services while clients talk to it over the socket.
 * Background fibers (the liveness sweep, the connection fibers) must live as long as the runtime.
 */
import * as fs from "node:fs"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime, Option } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Hub } from "../../src/hub/Hub.ts"
import { HubConfig } from "../../src/hub/HubConfig.ts"
import { hubWithStore } from "../../src/hub/HubWithStore.ts"
import { Registry } from "../../src/hub/Registry.ts"
import { Rooms } from "../../src/hub/Rooms.ts"
import * as UnixSocket from "../../src/transport/UnixSocket.ts"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { tempDataDir } from "../support/TestHub.ts"

const embeddedHub = (dataDir: string) =>
  ManagedRuntime.make(
    UnixSocket.layer.pipe(
      Layer.provideMerge(hubWithStore),
      Layer.provideMerge(
        HubConfig.layer({
          dataDir,
          websocketPort: Option.none(),
          sweepInterval: Duration.millis(150),
          sweepTimeout: Duration.millis(200)
        })
      ),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
  )

describe("embedding the hub through ManagedRuntime", () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it("serves socket clients while the embedding program uses Hub, Registry and Rooms", async () => {
    const dataDir = tempDataDir("relay-embed-")
    const runtime = embeddedHub(dataDir)
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }))
    cleanups.push(() => runtime.dispose())
    const { socketPath } = await runtime.runPromise(HubConfig)

    const alice = await NdjsonClient.connect(socketPath)
    cleanups.push(() => alice.close())
    await alice.register("alice", { cwd: "/src/app", git_branch: "feature" })
    await alice.request({ type: "join_room", room: "ops" })

    const seen = await runtime.runPromise(
      Effect.gen(function* () {
        const hub = yield* Hub
        const registry = yield* Registry
        const rooms = yield* Rooms
        const peer = registry.lookup("alice")
        if (peer === undefined) return undefined
        // The embedding program can reach the peer directly, too.
        peer.send({ type: "ping", req_id: "from-embedder" })
        return {
          connections: hub.connectionCount(),
          name: peer.name,
          cwd: peer.cwd,
          branch: peer.gitBranch,
          transport: peer.transport,
          rooms: rooms.roomsOf(peer)
        }
      })
    )
    expect(seen).toEqual({ connections: 1, name: "alice", cwd: "/src/app", branch: "feature", transport: "unix", rooms: ["ops"] })
    await alice.waitFor((f) => f.type === "ping" && f.req_id === "from-embedder")

    // A rename over the wire shows in the embedder's view at once.
    await alice.request({ type: "rename", new_name: "alice2" })
    const names = await runtime.runPromise(Effect.map(Registry, (registry) => registry.list().map((p) => p.name)))
    expect(names).toEqual(["alice2"])

    await runtime.dispose()
    await alice.waitClosed()
    expect(fs.existsSync(socketPath)).toBe(false)
  })

  it("keeps its background fibers alive in the runtime: the liveness sweep evicts a silent peer", async () => {
    const dataDir = tempDataDir("relay-embed-")
    const runtime = embeddedHub(dataDir)
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }))
    cleanups.push(() => runtime.dispose())
    const { socketPath } = await runtime.runPromise(HubConfig)

    const live = await NdjsonClient.connect(socketPath)
    const silent = await NdjsonClient.connect(socketPath)
    cleanups.push(() => live.close(), () => silent.close())
    await live.register("live")
    await silent.register("silent")
    silent.autoPong = false
    await silent.waitClosed()

    const names = await runtime.runPromise(Effect.map(Registry, (registry) => registry.list().map((p) => p.name)))
    expect(names).toEqual(["live"])
    expect(live.pushes("ping").length).toBeGreaterThan(0)
    expect(live.closed).toBe(false)
  })
})
