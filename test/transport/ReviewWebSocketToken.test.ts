/**
 * The WebSocket token file as the hub finds it on disk: an empty file (a crash between creating and
 * writing it, a full disk) must not make the empty string the password of the loopback endpoint,
 * which every local user can reach; a token file readable by others is made private again.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { loadOrCreateToken, tokenFilePath } from "../../src/transport/WebSocketAuth.ts"
import { startInProcessHub, tempDataDir, type TestHub } from "../support/TestHub.ts"
import { WsClient } from "../support/WsClient.ts"

describe("ws.token as found on disk", () => {
  let hub: TestHub | undefined
  const clients: Array<WsClient> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await hub?.stop()
    hub = undefined
  })

  it("an empty token file is replaced by a fresh token: {\"auth\":\"\"} is refused with 4003", async () => {
    const dataDir = tempDataDir()
    fs.writeFileSync(tokenFilePath(dataDir), "\n", { mode: 0o600 })
    hub = await startInProcessHub({ dataDir }, { websocket: true })
    const url = (hub as Awaited<ReturnType<typeof startInProcessHub>>).websocket!.url

    const empty = await WsClient.connect(url, "", { auth: JSON.stringify({ auth: "" }) })
    clients.push(empty)
    await empty.waitClosed()
    expect([empty.closeCode, empty.closeReason]).toEqual([4003, "auth_failed"])

    const token = fs.readFileSync(tokenFilePath(dataDir), "utf8").trim()
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    const good = await WsClient.connect(url, token)
    clients.push(good)
    expect(await good.register("ws-ok")).toMatchObject({ type: "ack" })
  })

  it("a token file other users can read is made 0600 and keeps its token", () => {
    const dataDir = tempDataDir()
    const file = path.join(dataDir, "ws.token")
    fs.writeFileSync(file, "a-token-someone-wrote-by-hand\n")
    fs.chmodSync(file, 0o644)
    expect(Effect.runSync(loadOrCreateToken(dataDir, undefined))).toBe("a-token-someone-wrote-by-hand")
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  })
})
