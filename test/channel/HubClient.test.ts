/**
 * The hub client against a scripted hub on a real Unix socket: correlation, pings, timeouts, name
 * suffixes, reconnect with re-register and room rejoin, fail-fast during a gap.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { HubClient, layer, make, nameCandidate } from "../../src/client/HubClient.ts"
import { ScriptedHub, socketPath, standard, withHub } from "./ScriptedHub.ts"

describe("HubClient", () => {
  it.scopedLive("registers with hello then register (protocol 6) and correlates replies by req_id", () =>
    Effect.gen(function* () {
      const hub = yield* withHub((frame, _connection, self) => {
        // Answer the two list_peers in reverse order: correlation must not depend on order.
        if (frame.type === "list_peers") {
          const asked = self.frames(0).filter((f) => f.type === "list_peers")
          if (asked.length === 2) {
            self.send(0, { type: "peers", peers: [{ name: "second" }], req_id: asked[1]!.req_id })
            self.send(0, { type: "peers", peers: [{ name: "first" }], req_id: asked[0]!.req_id })
          }
          return undefined
        }
        return standard(frame)
      })
      const client = yield* make({ socketPath: hub.socketPath, name: "alice", cwd: "/w", gitBranch: "main" })
      const [first, second] = yield* Effect.all([client.request({ type: "list_peers" }), client.request({ type: "list_peers" })], {
        concurrency: 2
      })
      expect((first.peers as Array<{ name: string }>)[0]!.name).toBe("first")
      expect((second.peers as Array<{ name: string }>)[0]!.name).toBe("second")
      const [hello, register] = hub.frames(0)
      expect(hello).toMatchObject({ type: "hello" })
      expect(register).toMatchObject({ type: "register", name: "alice", cwd: "/w", git_branch: "main", protocol_version: "6" })
      expect(yield* client.name).toBe("alice")
    })
  )

  it.scopedLive("answers a hub ping with pong at once, even while a request is still waiting", () =>
    Effect.gen(function* () {
      const hub = yield* withHub((frame) => (frame.type === "inbox" ? undefined : standard(frame)))
      const client = yield* make({ socketPath: hub.socketPath, name: "alice" })
      yield* client.awaitReady("5 seconds")
      const waiting = yield* Effect.fork(client.request({ type: "inbox" }))
      yield* Effect.promise(() => hub.until(() => hub.frames(0).some((f) => f.type === "inbox")))
      hub.send(0, { type: "ping", req_id: "probe-1" })
      yield* Effect.promise(() => hub.until(() => hub.frames(0).some((f) => f.type === "pong")))
      expect(hub.frames(0).find((f) => f.type === "pong")).toEqual({ type: "pong", req_id: "probe-1" })
      const inbox = hub.frames(0).find((f) => f.type === "inbox")!
      hub.send(0, { type: "inbox_result", messages: [], remaining: 0, req_id: inbox.req_id })
      expect((yield* waiting.await)._tag).toBe("Success")
    })
  )

  it.scopedLive("an err reply fails with the hub's code; silence fails with timeout", () =>
    Effect.gen(function* () {
      const hub = yield* withHub((frame) =>
        frame.type === "send" ? { type: "err", code: "peer_not_found", message: "no such peer", req_id: frame.req_id } : standard(frame)
      )
      const client = yield* make({ socketPath: hub.socketPath, name: "alice", requestTimeout: "200 millis" })
      const refused = yield* Effect.flip(client.request({ type: "send", to: "x", text: "hi" }))
      expect(refused).toMatchObject({ code: "peer_not_found", message: "no such peer" })
      const silent = yield* Effect.flip(client.request({ type: "group_list" }))
      expect(silent.code).toBe("timeout")
    })
  )

  it.scopedLive("on name_taken registers as name-2, name-3 …; protocol_mismatch falls back to 5", () =>
    Effect.gen(function* () {
      const hub = yield* withHub((frame) => {
        if (frame.type === "register") {
          if (frame.protocol_version === "6") return { type: "err", code: "protocol_mismatch", req_id: frame.req_id }
          if (frame.name !== "alice-3") return { type: "err", code: "name_taken", req_id: frame.req_id }
        }
        return standard(frame)
      })
      const client = yield* make({ socketPath: hub.socketPath, name: "alice" })
      yield* client.awaitReady("5 seconds")
      expect(yield* client.name).toBe("alice-3")
      const registers = hub.frames(0).filter((f) => f.type === "register")
      expect(registers.map((f) => [f.name, f.protocol_version])).toEqual([
        ["alice", "6"],
        ["alice", "5"],
        ["alice-2", "5"],
        ["alice-3", "5"]
      ])
    })
  )

  it("name candidates keep within 64 characters", () => {
    expect(nameCandidate("a".repeat(64), 12)).toHaveLength(64)
    expect(nameCandidate("a".repeat(64), 12).endsWith("-12")).toBe(true)
    expect(nameCandidate("bob", 1)).toBe("bob")
  })

  it.scopedLive("passes unsolicited frames to pushes in order; errors without req_id are not pushes", () =>
    Effect.gen(function* () {
      const hub = yield* withHub(standard)
      const client = yield* make({ socketPath: hub.socketPath, name: "alice" })
      yield* client.awaitReady("5 seconds")
      hub.send(0, { type: "incoming_message", msg_id: "1", from: "bob", text: "a" })
      hub.send(0, { type: "err", code: "bad_msg", message: "stray" })
      hub.send(0, { type: "incoming_message", msg_id: "2", from: "bob", text: "b" })
      const pushed = yield* client.pushes.pipe(Stream.take(2), Stream.runCollect)
      expect(Chunk.toReadonlyArray(pushed).map((f) => f.msg_id)).toEqual(["1", "2"])
    })
  )

  it.scopedLive("after the hub drops it: fails fast while away, then re-registers under its name and rejoins its rooms", () =>
    Effect.gen(function* () {
      const path = socketPath()
      let hub = new ScriptedHub(path, standard)
      yield* Effect.promise(() => hub.start())
      const client = yield* make({ socketPath: path, name: "alice", backoffInitial: "20 millis", backoffMax: "100 millis", requestTimeout: "20 seconds" })
      yield* client.request({ type: "join_room", room: "ops" })
      yield* client.request({ type: "rename", new_name: "alice-renamed" })
      expect(yield* client.rooms).toEqual(["ops"])

      yield* Effect.promise(() => hub.stop())
      yield* client.stateChanges.pipe(Stream.filter((s) => s._tag === "Connecting"), Stream.take(1), Stream.runDrain)
      const during = yield* Effect.flip(client.request({ type: "list_peers" }))
      expect(during.code).toBe("hub_unreachable")

      hub = new ScriptedHub(path, standard)
      yield* Effect.promise(() => hub.start())
      yield* client.awaitReady("5 seconds")
      const frames = hub.frames(0)
      expect(frames.find((f) => f.type === "register")).toMatchObject({ name: "alice-renamed" })
      expect(frames.find((f) => f.type === "join_room")).toMatchObject({ room: "ops" })
      expect((yield* client.request({ type: "list_peers" })).type).toBe("peers")
      yield* Effect.promise(() => hub.stop())
    })
  )

  it.scopedLive("the layer closes the connection when its scope ends", () =>
    Effect.gen(function* () {
      const hub = yield* withHub(standard)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* HubClient
          yield* client.awaitReady("5 seconds")
        }).pipe(Effect.provide(layer({ socketPath: hub.socketPath, name: "alice" })))
      )
      yield* Effect.promise(() => hub.until(() => hub.connections[0]!.closed))
      expect(hub.connections).toHaveLength(1)
    })
  )
})
