/**
 * The daemon's exit path when its pid file has gone (removed by hand, by a tmp cleaner, by a
 * `rm -rf` of the data directory): stopping must still be a clean exit that removes the socket.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { inProcessHub } from "./HubKinds.ts"

describe("hub daemon exit", () => {
  it("exits cleanly (code 0) and removes its socket even when hub.pid was removed while it ran", async () => {
    const hub = await inProcessHub.start({ idleExit: Duration.millis(300) })
    const pidFile = path.join(hub.dataDir, "hub.pid")
    expect(fs.existsSync(pidFile)).toBe(true)
    fs.rmSync(pidFile)
    expect(await hub.exited).toBe(0)
    expect(fs.existsSync(hub.socketPath)).toBe(false)
  })
})
