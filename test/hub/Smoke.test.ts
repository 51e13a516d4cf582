import { afterEach, describe, expect, it } from "vitest"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { startInProcessHub, type TestHub } from "../support/TestHub.ts"

describe("smoke", () => {
  let hub: TestHub
  afterEach(async () => hub?.stop())

  it("answers the bootstrap ping and registers", async () => {
    hub = await startInProcessHub()
    const a = await NdjsonClient.connect(hub.socketPath)
    a.writeRaw('{"type":"ping","req_id":"bootstrap"}\n')
    await a.waitFor((f) => f.type === "pong")
    expect(a.rawLines[0]).toBe('{"type":"pong","req_id":"bootstrap"}')
    expect(await a.register("alice")).toEqual({ type: "ack", req_id: "t1" })
    const b = await NdjsonClient.connect(hub.socketPath)
    await b.register("bob")
    const peers = await b.request({ type: "list_peers" })
    expect(peers.peers.map((p: any) => p.name)).toEqual(["alice"])
    a.close()
    b.close()
  })
})
