/**
 * Every auto-spawned hub appends to `$RELAY_HOME/hub.log`; the file must not grow for ever, across
 * spawns (past its cap the next spawn moves it to `hub.log.1`) or while one hub runs (the hub
 * copies it to `hub.log.1` and starts over).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { maxHubLogBytes, probe, spawnHub } from "../../src/client/Bootstrap.ts"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { tempDataDir } from "../support/TestHub.ts"

const waitForFile = async (file: string, text: string) => {
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8").includes(text)) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`${file} never contained ${text}`)
}

describe("hub.log", () => {
  it("appends below the cap, and rolls over to hub.log.1 (one generation) past it", async () => {
    const home = tempDataDir()
    const log = path.join(home, "hub.log")
    const spawnEcho = (word: string) =>
      Effect.runPromise(spawnHub({ home, socketPath: path.join(home, "hub.sock"), command: ["/bin/sh", "-c", `echo ${word}`] }))

    await spawnEcho("first")
    await waitForFile(log, "first")
    await spawnEcho("second")
    await waitForFile(log, "second")
    expect(fs.readFileSync(log, "utf8")).toBe("first\nsecond\n")
    expect(fs.statSync(log).mode & 0o777).toBe(0o600)

    fs.appendFileSync(log, "x".repeat(maxHubLogBytes))
    await spawnEcho("third")
    await waitForFile(log, "third")
    expect(fs.readFileSync(log, "utf8")).toBe("third\n")
    expect(fs.statSync(`${log}.1`).size).toBeGreaterThan(maxHubLogBytes)
  })

  it("a running hub keeps its log under the cap: past it, the log moves to hub.log.1 and starts over", async () => {
    const home = tempDataDir()
    const log = path.join(home, "hub.log")
    const socketPath = path.join(home, "hub.sock")
    const cap = 4096
    const pid = await Effect.runPromise(
      spawnHub({ home, socketPath, env: { ...process.env, RELAY_LOG_MAX_BYTES: String(cap), RELAY_WS_PORT: "0", RELAY_LOG_LEVEL: "info" } })
    )
    try {
      for (let i = 0; i < 100 && !(await Effect.runPromise(probe(socketPath))); i++) await new Promise((r) => setTimeout(r, 100))
      // Each registration logs a line; enough of them pass the cap several times over.
      for (let i = 0; i < 60; i++) {
        const client = await NdjsonClient.connect(socketPath)
        await client.request({ type: "register", name: `peer-number-${i}`, cwd: "/".padEnd(80, "x") })
        client.close()
      }
      await waitForFile(log, "peer-number-59")
      const rolled = fs.readFileSync(`${log}.1`, "utf8")
      const current = fs.readFileSync(log, "utf8")
      // Under the cap (plus at most the line that crossed it), JSON lines throughout, nothing lost
      // at the seam: the newest line of hub.log.1 is followed by the oldest of hub.log.
      expect(fs.statSync(log).size).toBeLessThanOrEqual(cap + 1024)
      expect(fs.statSync(`${log}.1`).size).toBeLessThanOrEqual(cap + 1024)
      for (const line of [...rolled.trim().split("\n"), ...current.trim().split("\n")]) expect(() => JSON.parse(line)).not.toThrow()
      const numbers = [...rolled, ...current].join("").match(/peer-number-\d+/g)!.map((m) => Number(m.slice(12)))
      const registered = [...new Set(numbers)]
      expect(registered).toEqual([...registered].sort((a, b) => a - b))
      expect(registered[registered.length - 1]).toBe(59)
    } finally {
      process.kill(pid, "SIGTERM")
    }
  })
})
