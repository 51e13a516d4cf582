/**
 * C1 (reliability.md): many sessions connecting, registering, joining a room and leaving, in
 * overlapping waves, on loopback. Afterwards nothing of them is left: no registered name, no room,
 * no open connection, and the hub process holds no more file descriptors than before.
 */
import * as fs from "node:fs"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Hub } from "../../src/hub/Hub.ts"
import { Registry } from "../../src/hub/Registry.ts"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { type InProcessHub, startInProcessHub } from "../support/TestHub.ts"

const openFds = () => fs.readdirSync("/proc/self/fd").length

describe("C1: connection churn", () => {
  let hub: InProcessHub | undefined
  afterEach(async () => hub?.stop())

  it("1,000 sessions come and go: no ghost peers, rooms or connections, no file-descriptor leak", async () => {
    hub = await startInProcessHub({}, { store: false })
    const observer = await NdjsonClient.connect(hub.socketPath)
    await observer.register("observer")
    // Warm up once so lazily opened descriptors (the first connection's) are in the baseline.
    const warm = await NdjsonClient.connect(hub.socketPath)
    await warm.register("warm")
    warm.close()
    await observer.request({ type: "ping" })
    const baseline = openFds()

    const waves = 20
    const perWave = 50
    for (let wave = 0; wave < waves; wave++) {
      const clients = await Promise.all(
        Array.from({ length: perWave }, () => NdjsonClient.connect(hub!.socketPath))
      )
      await Promise.all(
        clients.map(async (client, i) => {
          expect(await client.register(`churn-${wave}-${i}`)).toMatchObject({ type: "ack" })
          expect(await client.request({ type: "join_room", room: `room-${i % 5}` })).toMatchObject({ type: "room_ack" })
        })
      )
      // Half hang up abruptly, half say nothing more and close cleanly.
      clients.forEach((client, i) => (i % 2 === 0 ? client.socket.destroy() : client.socket.end()))
      await Promise.all(clients.map((client) => client.waitClosed(10_000)))
    }

    // The hub has processed every hang-up once the observer's own request is answered after them,
    // but session cleanup is asynchronous: wait (bounded) for the counts to settle.
    const settled = async () => {
      for (let i = 0; i < 200; i++) {
        const peers = (await observer.request({ type: "list_peers" })).peers
        const rooms = (await observer.request({ type: "list_rooms" })).rooms
        const connections = await hub!.runtime.runPromise(Effect.map(Hub, (h) => h.connectionCount()))
        if (peers.length === 0 && rooms.length === 0 && connections === 1) return { peers, rooms, connections }
        await new Promise((r) => setTimeout(r, 25))
      }
      return {
        peers: (await observer.request({ type: "list_peers" })).peers,
        rooms: (await observer.request({ type: "list_rooms" })).rooms,
        connections: await hub!.runtime.runPromise(Effect.map(Hub, (h) => h.connectionCount()))
      }
    }
    expect(await settled()).toEqual({ peers: [], rooms: [], connections: 1 })
    const names = await hub.runtime.runPromise(Effect.map(Registry, (r) => r.list().map((p) => p.name)))
    expect(names).toEqual(["observer"])
    // A few descriptors of slack for the runtime's own housekeeping; a leak would be hundreds.
    expect(openFds()).toBeLessThanOrEqual(baseline + 5)
    observer.close()
  })
})
