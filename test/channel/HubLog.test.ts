/**
 * Every auto-spawned hub appends to `$RELAY_HOME/hub.log`; the file must not grow for ever across
 * spawns: past its cap the next spawn moves it to `hub.log.1` and starts a new one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { maxHubLogBytes, spawnHub } from "../../src/client/Bootstrap.ts"
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
})
