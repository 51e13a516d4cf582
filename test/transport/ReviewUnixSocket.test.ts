/**
 * The Unix socket acceptor at its connection cap, on the real `relay hub` process: a refused client
 * that hangs up before reading its `err` (a client flood, a client killed mid-connect) must cost it
 * nothing. Before the fix the write of the refusal hit EPIPE on a socket with no error listener and
 * the hub process died, taking every session with it.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { type ProcessHub, startInProcessHub, startProcessHub, tempDataDir, type TestHub } from "../support/TestHub.ts"

/** Connects and hangs up at once, without reading. */
const connectAndHangUp = (socketPath: string) =>
  new Promise<void>((resolve) => {
    const socket = net.createConnection(socketPath)
    socket.on("error", () => resolve())
    socket.once("connect", () => {
      socket.destroy()
      resolve()
    })
  })

describe("Unix socket acceptor at its connection cap", () => {
  let hub: ProcessHub | undefined
  const clients: Array<NdjsonClient> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await hub?.stop()
    hub = undefined
  })

  it("survives refused clients that hang up at once, and keeps serving the ones it holds", async () => {
    hub = await startProcessHub({ env: { RELAY_MAX_CONNECTIONS: "1" } })
    const held = await NdjsonClient.connect(hub.socketPath)
    clients.push(held)
    expect(await held.register("held")).toMatchObject({ type: "ack" })

    for (let i = 0; i < 100; i++) await connectAndHangUp(hub.socketPath)

    expect(await held.request({ type: "ping" })).toMatchObject({ type: "pong" })
    expect(hub.hasExited(), hub.stderr().slice(-1000)).toBe(false)
    // And the cap still answers a client that does wait for its refusal.
    const refused = await NdjsonClient.connect(hub.socketPath)
    clients.push(refused)
    await refused.waitClosed()
    expect(refused.frames).toEqual([{ type: "err", code: "bad_args", message: expect.stringMatching(/connection cap \(1\)/) }])
  })
})

describe("Unix socket outside the data directory (RELAY_HUB_SOCKET)", () => {
  let hub: TestHub | undefined
  afterEach(async () => {
    await hub?.stop()
    hub = undefined
  })

  it("leaves the permissions of an existing shared directory alone; the socket itself is 0600", async () => {
    // Stands for /tmp or $HOME: a directory the hub does not own the policy of.
    const shared = tempDataDir("relay-shared-")
    fs.chmodSync(shared, 0o755)
    const socketPath = path.join(shared, "relay.sock")
    hub = await startInProcessHub({ socketPath })
    const client = await NdjsonClient.connect(socketPath)
    expect(await client.request({ type: "ping" })).toMatchObject({ type: "pong" })
    client.close()
    expect(fs.statSync(shared).mode & 0o777).toBe(0o755)
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600)
  })

  it("creates a missing socket directory private (0700)", async () => {
    const socketPath = path.join(tempDataDir("relay-parent-"), "run", "relay.sock")
    hub = await startInProcessHub({ socketPath })
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700)
  })
})
